/**
 * Each key has its own request budget, so one leaked or runaway key cannot flood the API, and a valid key over
 * its budget is told to wait (429 with Retry-After), never told it is invalid (401), which would make a client
 * discard a good key.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE } from '#shared/api-keys/index.ts';
import { API_KEY_TEST_EPOCH_MS, type ApiKeyFixture, createApiKeyFixture } from '#test/helpers/api-keys.ts';

let f: ApiKeyFixture;
beforeAll(async () => {
  f = await createApiKeyFixture();
});
beforeEach(async () => {
  await f.reset();
});
afterAll(async () => {
  await f.close();
});

describe('per-key rate limit', () => {
  it('allows the key’s limit per minute, then answers RATE_LIMITED with the seconds left in the window', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({
      userId: owner.id,
      name: 'Small',
      rateLimitPerMinute: 5,
      source: 'api',
    });
    expect(apiKey.rateLimitPerMinute).toBe(5);
    // The epoch is 10 s into a minute: the window has 50 s left.
    expect(API_KEY_TEST_EPOCH_MS % 60_000).toBe(10_000);
    for (let request = 0; request < 5; request++) {
      expect((await f.service.authenticate(key, '198.51.100.7')).ok).toBe(true);
    }
    await expect(f.service.authenticate(key, '198.51.100.7')).resolves.toEqual({
      ok: false,
      reason: 'API_KEY_RATE_LIMITED',
      retryAfterSeconds: 50,
    });
    f.clock.advance(49_500);
    await expect(f.service.authenticate(key, '198.51.100.7')).resolves.toMatchObject({
      reason: 'API_KEY_RATE_LIMITED',
      retryAfterSeconds: 1,
    });
    f.clock.advance(500); // the next window
    expect((await f.service.authenticate(key, '198.51.100.7')).ok).toBe(true);
  });

  it('counts each key separately, under the deployment’s Redis prefix', async () => {
    const owner = await f.makeUser();
    const small = await f.service.create({ userId: owner.id, name: 'A', rateLimitPerMinute: 1, source: 'api' });
    const other = await f.service.create({ userId: owner.id, name: 'B', rateLimitPerMinute: 1, source: 'api' });
    expect((await f.service.authenticate(small.key, '198.51.100.7')).ok).toBe(true);
    expect(await f.service.authenticate(small.key, '198.51.100.7')).toMatchObject({ reason: 'API_KEY_RATE_LIMITED' });
    expect((await f.service.authenticate(other.key, '198.51.100.7')).ok).toBe(true);

    const window = Math.floor(f.clock.nowMs / 60_000);
    const counters = [small.apiKey.id, other.apiKey.id].map((id) => `${f.redis.prefix}:api-key-rate:${id}:${window}`);
    expect(await f.redis.client.mget(...counters)).toEqual(['2', '1']);
    for (const counter of counters) {
      const ttl = await f.redis.client.pttl(counter);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(61_000);
    }
  });

  it('defaults to 600 a minute and refuses limits outside 1 to 6000', async () => {
    const owner = await f.makeUser();
    const { apiKey } = await f.service.create({ userId: owner.id, name: 'Default', source: 'api' });
    expect(apiKey.rateLimitPerMinute).toBe(API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE);
    expect(API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE).toBe(600);
    for (const rateLimitPerMinute of [0, -5, 6_001, 2.5]) {
      await expect(
        f.service.create({ userId: owner.id, name: 'Bad', rateLimitPerMinute, source: 'api' }),
      ).rejects.toMatchObject({ code: 'API_KEY_RATE_LIMIT_INVALID', status: 400 });
    }
  });

  it('does not spend a budget on keys that fail before the limit is checked', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({
      userId: owner.id,
      name: 'One',
      rateLimitPerMinute: 1,
      source: 'api',
    });
    await f.service.revoke({ userId: owner.id, keyId: apiKey.id, source: 'api' });
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(await f.service.authenticate(key, '198.51.100.7')).toEqual({ ok: false, reason: 'API_KEY_REVOKED' });
    }
    expect(await f.redis.client.keys(`${f.redis.prefix}:api-key-rate:${apiKey.id}:*`)).toEqual([]);
  });
});
