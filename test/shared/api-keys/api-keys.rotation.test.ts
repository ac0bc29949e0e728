/**
 * Rotation replaces a key without downtime and without leaving the old one alive: the old key keeps working
 * for the grace period (24 h by default) so clients can switch, then stops for good; the new key has the same
 * name, scopes and limit, and a key can be rotated only once, by its owner.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_KEY_ROTATION_GRACE_SECONDS } from '#shared/api-keys/index.ts';
import { users } from '#shared/db/schema.ts';
import { type ApiKeyFixture, createApiKeyFixture } from '#test/helpers/api-keys.ts';

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

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

describe('rotation', () => {
  it('keeps the old key working through the grace period and stops it after', async () => {
    expect(API_KEY_ROTATION_GRACE_SECONDS).toBe(24 * 3600);
    const owner = await f.makeUser();
    const original = await f.service.create({
      userId: owner.id,
      name: 'Deploy',
      scopes: ['profile:read', 'sessions:read'],
      rateLimitPerMinute: 120,
      expiresInDays: 30,
      source: 'api',
    });
    f.clock.advance(5 * DAY_MS);
    const rotatedAt = f.clock.nowMs;
    const rotated = await f.service.rotate({ userId: owner.id, keyId: original.apiKey.id, source: 'api' });

    expect(rotated.key).not.toBe(original.key);
    expect(rotated.apiKey).toMatchObject({
      name: 'Deploy',
      scopes: ['profile:read', 'sessions:read'],
      rateLimitPerMinute: 120,
      status: 'active',
      replacedById: null,
      expiresAt: new Date(rotatedAt + 30 * DAY_MS), // the same lifetime, from now
    });
    expect(rotated.previous).toMatchObject({
      id: original.apiKey.id,
      status: 'rotating',
      replacedById: rotated.apiKey.id,
      expiresAt: new Date(rotatedAt + 24 * HOUR_MS),
    });

    f.clock.set(rotatedAt + 24 * HOUR_MS - 1000);
    expect(await f.service.authenticate(original.key, '198.51.100.7')).toMatchObject({
      ok: true,
      principal: { keyId: original.apiKey.id },
    });
    expect((await f.service.authenticate(rotated.key, '198.51.100.7')).ok).toBe(true);

    f.clock.set(rotatedAt + 24 * HOUR_MS);
    await expect(f.service.authenticate(original.key, '198.51.100.7')).resolves.toEqual({
      ok: false,
      reason: 'API_KEY_EXPIRED',
    });
    expect((await f.service.authenticate(rotated.key, '198.51.100.7')).ok).toBe(true);
    expect((await f.service.list(owner.id)).map((view) => [view.id, view.status])).toEqual([
      [rotated.apiKey.id, 'active'],
      [original.apiKey.id, 'expired'],
    ]);
  });

  it('never extends a key: one that expires within the grace period still expires on time', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Soon', expiresInDays: 1, source: 'api' });
    f.clock.advance(20 * HOUR_MS);
    const { previous } = await f.service.rotate({ userId: owner.id, keyId: apiKey.id, source: 'api' });
    expect(previous.expiresAt).toEqual(apiKey.expiresAt);
    f.clock.set(apiKey.expiresAt.getTime());
    expect(await f.service.authenticate(key, '198.51.100.7')).toEqual({ ok: false, reason: 'API_KEY_EXPIRED' });
  });

  it('honours a configured grace period', async () => {
    const short = await createApiKeyFixture({ rotationGraceSeconds: 60 });
    try {
      const owner = await short.makeUser();
      const { key, apiKey } = await short.service.create({ userId: owner.id, name: 'Quick', source: 'api' });
      await short.service.rotate({ userId: owner.id, keyId: apiKey.id, source: 'api' });
      short.clock.advance(59_000);
      expect((await short.service.authenticate(key, '198.51.100.7')).ok).toBe(true);
      short.clock.advance(1_000);
      expect(await short.service.authenticate(key, '198.51.100.7')).toMatchObject({ reason: 'API_KEY_EXPIRED' });
    } finally {
      await short.close();
    }
  });

  it('rotates a key once: rotating it again, even concurrently, is refused', async () => {
    const owner = await f.makeUser();
    const { apiKey } = await f.service.create({ userId: owner.id, name: 'Race', source: 'api' });
    const outcomes = await Promise.allSettled([
      f.service.rotate({ userId: owner.id, keyId: apiKey.id, source: 'api' }),
      f.service.rotate({ userId: owner.id, keyId: apiKey.id, source: 'api' }),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const [refused] = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(refused?.reason).toMatchObject({ code: 'API_KEY_NOT_ACTIVE', status: 409 });
    expect(await f.service.list(owner.id)).toHaveLength(2);
  });

  it('drops scopes the owner’s role no longer grants from the new key', async () => {
    const owner = await f.makeUser('user');
    const { apiKey } = await f.service.create({
      userId: owner.id,
      name: 'Mixed',
      scopes: ['profile:read', 'profile:write'],
      source: 'api',
    });
    await f.database.db.update(users).set({ role: 'readonly' }).where(eq(users.id, owner.id));
    const rotated = await f.service.rotate({ userId: owner.id, keyId: apiKey.id, source: 'api' });
    expect(rotated.apiKey.scopes).toEqual(['profile:read']);
  });
});
