/**
 * The owner must be able to see when and from where each key was last used (to spot an unused or misused
 * key), but the product must not keep client addresses: only the network (IPv4 /24, IPv6 /48) is stored.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_KEY_LAST_USED_WRITE_INTERVAL_SECONDS } from '#shared/api-keys/index.ts';
import { apiKeys } from '#shared/db/schema.ts';
import { type ApiKeyFixture, createApiKeyFixture } from '#test/helpers/api-keys.ts';

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

async function stored(id: string) {
  const [row] = await f.database.db.select().from(apiKeys).where(eq(apiKeys.id, id));
  return { lastUsedAt: row?.lastUsedAt, lastUsedIp: row?.lastUsedIp };
}

describe('last use', () => {
  it('records the time and the truncated network, never the address', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Script', source: 'api' });
    expect(apiKey.lastUsedAt).toBeNull();

    await f.service.authenticate(key, '203.0.113.77');
    expect(await stored(apiKey.id)).toEqual({ lastUsedAt: new Date(f.clock.nowMs), lastUsedIp: '203.0.113.0/24' });

    f.clock.advance(API_KEY_LAST_USED_WRITE_INTERVAL_SECONDS * 1000);
    await f.service.authenticate(key, '2001:db8:85a3:8d3:1319:8a2e:370:7348');
    expect(await stored(apiKey.id)).toEqual({ lastUsedAt: new Date(f.clock.nowMs), lastUsedIp: '2001:db8:85a3::/48' });
    const [view] = await f.service.list(owner.id);
    expect(view).toMatchObject({ lastUsedAt: new Date(f.clock.nowMs), lastUsedIp: '2001:db8:85a3::/48' });
  });

  it('writes at most once per interval from one network, but at once from a new network', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Busy', source: 'api' });
    const first = f.clock.nowMs;
    await f.service.authenticate(key, '198.51.100.7');
    f.clock.advance(10_000);
    await f.service.authenticate(key, '198.51.100.99'); // same /24
    expect(await stored(apiKey.id)).toEqual({ lastUsedAt: new Date(first), lastUsedIp: '198.51.100.0/24' });
    await f.service.authenticate(key, '192.0.2.1');
    expect(await stored(apiKey.id)).toEqual({ lastUsedAt: new Date(f.clock.nowMs), lastUsedIp: '192.0.2.0/24' });
  });

  it('stores nothing for an address it cannot parse', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Odd', source: 'api' });
    await f.service.authenticate(key, 'not an address');
    expect((await stored(apiKey.id)).lastUsedIp).toBeNull();
  });
});
