/**
 * The batched rate counter on real Redis: generous limits are counted locally and reach Redis in batches,
 * small limits and the last stretch before any limit are counted in Redis before answering, several
 * processes share one count, and a failed batch loses no hits.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateCounter } from '#shared/defense/rate-counter.ts';
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from '../../helpers/test-redis.ts';

let redis: TestRedis;
let run = 0;

beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis.close();
});

/** A fresh key space per test. */
function space(): string {
  run++;
  return `${redis.prefix}:rc${run}:`;
}

async function stored(prefix: string, key: string): Promise<number> {
  return Number((await redis.client.get(`${prefix}${key}`)) ?? 0);
}

describe('rate counter', () => {
  it('answers far-from-limit hits without Redis and adds them all in one batch', async () => {
    const prefix = space();
    const counter = createRateCounter({ redis: redis.client, prefix, flushMs: 60_000 });
    const first = await counter.hit('k', 60_000, 100_000); // learns the window from Redis
    expect(first.current).toBe(1);
    let synchronous = 0;
    for (let i = 0; i < 999; i++) {
      const result = counter.hit('k', 60_000, 100_000);
      if (!(result instanceof Promise)) synchronous++;
    }
    expect(synchronous).toBe(999);
    expect(await stored(prefix, 'k')).toBe(1); // nothing sent yet
    await counter.flush();
    expect(await stored(prefix, 'k')).toBe(1_000);
    const ttl = await redis.client.pttl(`${prefix}k`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await counter.close();
  });

  it('hitLocally counts only what hit would count without a round trip, and nothing otherwise', async () => {
    const prefix = space();
    const counter = createRateCounter({ redis: redis.client, prefix, flushMs: 60_000 });
    // An unknown window, or a small limit: not counted at all (the caller goes the exact way).
    expect(counter.hitLocally('k', 1_000)).toBeUndefined();
    expect(counter.hitLocally('small', 10)).toBeUndefined();
    expect((await counter.hit('k', 60_000, 1_000)).current).toBe(1);
    // Known and far from the limit: counted here, as hit would.
    for (let i = 2; i <= 900; i++) expect(counter.hitLocally('k', 1_000)?.current).toBe(i);
    // Within the last tenth: refused, and not counted.
    expect(counter.hitLocally('k', 1_000)).toBeUndefined();
    expect((await counter.hit('k', 60_000, 1_000)).current).toBe(901);
    await counter.flush();
    expect(await stored(prefix, 'k')).toBe(901);
    await counter.close();
  });

  it('counts small limits in Redis before answering', async () => {
    const prefix = space();
    const counter = createRateCounter({ redis: redis.client, prefix, flushMs: 60_000 });
    for (let i = 1; i <= 12; i++) {
      const result = counter.hit('login', 60_000, 10);
      expect(result).toBeInstanceOf(Promise);
      expect((await result).current).toBe(i);
      expect(await stored(prefix, 'login')).toBe(i);
    }
    await counter.close();
  });

  it('allows exactly the limit in one process: the last stretch is counted exactly', async () => {
    const prefix = space();
    const counter = createRateCounter({ redis: redis.client, prefix, flushMs: 60_000 });
    let allowed = 0;
    for (let i = 0; i < 300; i++) {
      const { current } = await counter.hit('k', 60_000, 200);
      if (current <= 200) allowed++;
    }
    expect(allowed).toBe(200);
    await counter.flush();
    expect(await stored(prefix, 'k')).toBe(300);
    await counter.close();
  });

  it('shares one count between processes', async () => {
    const prefix = space();
    const a = createRateCounter({ redis: redis.client, prefix, flushMs: 60_000 });
    const other = new Redis(TEST_REDIS_URL);
    const b = createRateCounter({ redis: other, prefix, flushMs: 60_000 });
    let allowed = 0;
    for (let i = 0; i < 600; i++) if ((await a.hit('k', 60_000, 1_000)).current <= 1_000) allowed++;
    await a.flush();
    for (let i = 0; i < 600; i++) if ((await b.hit('k', 60_000, 1_000)).current <= 1_000) allowed++;
    expect(allowed).toBe(1_000);
    await a.close();
    await b.close();
    other.disconnect();
  });

  it('keeps the hits of a failed batch and sends them once Redis answers again', async () => {
    const prefix = space();
    const client = new Redis(TEST_REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    await client.connect();
    const errors: unknown[] = [];
    const counter = createRateCounter({
      redis: client,
      prefix,
      flushMs: 60_000,
      onFlushError: (error) => errors.push(error),
    });
    await counter.hit('k', 60_000, 100_000);
    for (let i = 0; i < 49; i++) counter.hit('k', 60_000, 100_000);
    client.disconnect(true); // drops the connection, then reconnects by itself
    await counter.flush();
    expect(errors.length).toBeGreaterThan(0);
    expect(await stored(prefix, 'k')).toBe(1);
    // Wait until the client answers again.
    for (let ready = false; !ready; ) {
      ready = await client.ping().then(
        () => true,
        () => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20)),
      );
    }
    await counter.flush();
    expect(await stored(prefix, 'k')).toBe(50);
    await counter.close();
    client.disconnect();
  });

  it('starts a new window when the old one ends', async () => {
    const prefix = space();
    let clock = Date.now();
    const counter = createRateCounter({ redis: redis.client, prefix, flushMs: 60_000, now: () => clock });
    await counter.hit('k', 200, 100_000);
    counter.hit('k', 200, 100_000);
    await counter.flush();
    expect(await stored(prefix, 'k')).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 250)); // Redis expires the key
    clock += 250;
    const result = await counter.hit('k', 200, 100_000);
    expect(result.current).toBe(1);
    await counter.close();
  });

  it('forgets ended windows, so a flood of distinct keys does not stay in memory', async () => {
    const prefix = space();
    let clock = Date.now();
    const counter = createRateCounter({ redis: redis.client, prefix, flushMs: 60_000, now: () => clock });
    for (let i = 0; i < 200; i++) await counter.hit(`ip${i}`, 1_000, 100_000);
    expect(counter.size).toBe(200);
    clock += 5_000;
    await counter.flush();
    expect(counter.size).toBe(0);
    await counter.close();
  });
});
