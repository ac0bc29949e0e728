/**
 * Threat: a revoked session that keeps working because a process answered from its session cache. Two
 * stores stand for two API processes on one Redis: a change made through either (revoke, role, second factor)
 * must be seen by the other at once (its next read after the pub/sub message), and nothing is cached while the
 * invalidation channel is not subscribed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore, type SessionStore } from '#shared/tokens/sessions.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let redis: TestRedis;
let first: SessionStore;
let second: SessionStore;
const subscribers: { disconnect(): void }[] = [];

beforeAll(async () => {
  redis = await createTestRedis();
  const cache = {
    createSubscriber: () => {
      const connection = redis.client.duplicate();
      subscribers.push(connection);
      return connection;
    },
  };
  first = createSessionStore({ redis: redis.client, prefix: redis.prefix, cache });
  second = createSessionStore({ redis: redis.client, prefix: redis.prefix, cache });
  await sleep(100); // both subscriptions live
});
afterAll(async () => {
  await first.close();
  await second.close();
  await redis.close();
});

const newSession = async (store: SessionStore) =>
  (await store.create({ userId: crypto.randomUUID(), role: 'user', client: 'test', ip: '', amr: ['tg'] })).session;

/** Waits until `check` holds (pub/sub delivery), failing after a second. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error('condition not met within 1 s');
}

describe('session cache across processes', () => {
  it('answers repeated reads from the cache (no Redis read) until the session changes', async () => {
    const session = await newSession(first);
    expect((await second.get(session.id))?.userId).toBe(session.userId);
    // Changed behind the caches' back (not through a store): the cached copy still answers.
    await redis.client.hset(`${redis.prefix}:sess:${session.id}`, 'client', 'changed directly');
    expect((await second.get(session.id))?.client).toBe('test');
    // A change through a store drops it everywhere.
    await first.markSecondFactor(session.id, 1_700_000_000);
    await eventually(async () => (await second.get(session.id))?.secondFactorAt === 1_700_000_000);
    expect((await second.get(session.id))?.client).toBe('changed directly');
  });

  it('a revocation in one process ends the session in the other', async () => {
    const session = await newSession(first);
    expect(await second.get(session.id)).not.toBeNull(); // cached in the second process
    expect(await first.get(session.id)).not.toBeNull(); // and in the first
    expect(await first.revoke(session.id)).toBe(true);
    expect(await first.get(session.id)).toBeNull(); // at once where it was revoked
    await eventually(async () => (await second.get(session.id)) === null);
  });

  it('a role change in one process applies in the other', async () => {
    const session = await newSession(first);
    expect((await second.get(session.id))?.role).toBe('user');
    await first.setRole(session.userId, 'readonly');
    await eventually(async () => (await second.get(session.id))?.role === 'readonly');
  });

  it('caches nothing while the invalidation channel is not subscribed', async () => {
    const session = await newSession(first);
    const lost = subscribers.at(-1); // the second store's subscriber
    lost?.disconnect();
    await sleep(50);
    expect((await second.get(session.id))?.client).toBe('test');
    await redis.client.hset(`${redis.prefix}:sess:${session.id}`, 'client', 'changed while unsubscribed');
    // Without a live subscription every read goes to Redis, so the direct change shows at once.
    expect((await second.get(session.id))?.client).toBe('changed while unsubscribed');
  });
});
