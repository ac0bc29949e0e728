/**
 * Every key must expire, so a key forgotten in an old script or a leaked backup stops working by itself:
 * 90 days unless its owner chooses otherwise, never more than 365, and not a second past its expiry.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ApiKeyFixture, createApiKeyFixture } from '#test/helpers/api-keys.ts';

const DAY_MS = 24 * 3600 * 1000;

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

describe('expiry', () => {
  it('defaults to 90 days and ends exactly then', async () => {
    const owner = await f.makeUser();
    const start = f.clock.nowMs;
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Default', source: 'api' });
    expect(apiKey.expiresAt).toEqual(new Date(start + 90 * DAY_MS));

    f.clock.set(start + 90 * DAY_MS - 1);
    expect((await f.service.authenticate(key, '198.51.100.7')).ok).toBe(true);
    f.clock.set(start + 90 * DAY_MS);
    await expect(f.service.authenticate(key, '198.51.100.7')).resolves.toEqual({
      ok: false,
      reason: 'API_KEY_EXPIRED',
    });
  });

  it('accepts 1 to 365 days and refuses anything else', async () => {
    const owner = await f.makeUser();
    const year = await f.service.create({ userId: owner.id, name: 'Year', expiresInDays: 365, source: 'api' });
    expect(year.apiKey.expiresAt).toEqual(new Date(f.clock.nowMs + 365 * DAY_MS));
    const day = await f.service.create({ userId: owner.id, name: 'Day', expiresInDays: 1, source: 'api' });
    expect(day.apiKey.expiresAt).toEqual(new Date(f.clock.nowMs + DAY_MS));
    for (const expiresInDays of [0, -1, 366, 1.5, Number.NaN, 10_000]) {
      await expect(
        f.service.create({ userId: owner.id, name: 'Bad', expiresInDays, source: 'api' }),
      ).rejects.toMatchObject({ code: 'API_KEY_EXPIRY_INVALID', status: 400 });
    }
  });

  it('shows an expired key as expired for a while, and does not let it be rotated back to life', async () => {
    const owner = await f.makeUser();
    const { apiKey } = await f.service.create({ userId: owner.id, name: 'Short', expiresInDays: 1, source: 'api' });
    f.clock.advance(2 * DAY_MS);
    expect((await f.service.list(owner.id)).map((view) => view.status)).toEqual(['expired']);
    await expect(f.service.rotate({ userId: owner.id, keyId: apiKey.id, source: 'api' })).rejects.toMatchObject({
      code: 'API_KEY_NOT_ACTIVE',
      status: 409,
    });
    f.clock.advance(40 * DAY_MS);
    expect(await f.service.list(owner.id)).toEqual([]);
  });
});
