/**
 * Threat: linked accounts that leak or cross people. The provider's account id is stored only as a keyed blind
 * index (the same id at two providers gives unrelated indexes), name and email only sealed with the person's
 * data key, so a database dump names no one; one provider account belongs to one person; and erasing the
 * person's key (crypto-shredding) leaves the sealed fields unreadable.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import { bindUserIdentity, deriveTelegramIdIndexKey, upsertTelegramUser } from '#shared/identity/users.ts';
import { createLinkStore, type LinkStore } from '#shared/oauth/links.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
let keystore: TestDatabase;
let userKeys: UserKeys;
let links: LinkStore;
let telegramIds = 500_000_000;

const newUser = async () =>
  (await upsertTelegramUser(database.db, { telegramId: ++telegramIds, languageCode: 'en', adminTelegramIds: [] })).user
    .id;

beforeAll(async () => {
  database = await createTestDatabase();
  keystore = await createTestKeystore();
  const masterKey = randomBytesOf(32);
  const ring = await loadKeyRing(database.db, masterKey);
  userKeys = createUserKeys({ keystore: keystore.db, ring });
  bindUserIdentity(database.db, { indexKey: deriveTelegramIdIndexKey(masterKey), cipher: userKeys });
  links = createLinkStore({ db: database.db, cipher: userKeys, indexKey: randomBytesOf(32) });
});
afterAll(async () => {
  await keystore?.close();
  await database?.close();
});

describe('link store', () => {
  it('stores the subject as a blind index and the name and email sealed', async () => {
    const userId = await newUser();
    await links.link(userId, {
      provider: 'github',
      subject: '1234567',
      displayName: 'Grace Hopper',
      email: 'grace@example.com',
      emailVerified: true,
    });
    const dump = JSON.stringify(
      ((await database.db.execute(sql`select * from oauth_links`)) as unknown as { rows: unknown[] }).rows,
      (_key, value) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value),
    );
    for (const clear of ['1234567', 'Grace', 'grace@example.com']) expect(dump).not.toContain(clear);
    expect(await links.list(userId)).toMatchObject([
      { provider: 'github', displayName: 'Grace Hopper', email: 'grace@example.com', emailVerified: true },
    ]);
    expect(await links.findUserId('github', '1234567')).toBe(userId);
    // The same numeric id at another provider is another account.
    expect(await links.findUserId('discord', '1234567')).toBeUndefined();
  });

  it('gives one provider account to one person and refuses a second account of a provider', async () => {
    const first = await newUser();
    const second = await newUser();
    const identity = {
      provider: 'google' as const,
      subject: 'sub-1',
      displayName: null,
      email: null,
      emailVerified: false,
    };
    expect((await links.link(first, identity)).isNew).toBe(true);
    expect((await links.link(first, identity)).isNew).toBe(false);
    await expect(links.link(second, identity)).rejects.toMatchObject({ code: 'OAUTH_ACCOUNT_LINKED_ELSEWHERE' });
    await expect(links.link(first, { ...identity, subject: 'sub-2' })).rejects.toMatchObject({
      code: 'OAUTH_PROVIDER_ALREADY_LINKED',
    });
    // Concurrent links of one account by two people: exactly one wins.
    const account = { ...identity, subject: 'sub-race' };
    const results = await Promise.allSettled([
      links.link(await newUser(), account),
      links.link(await newUser(), account),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
  });

  it('unlinks, and after crypto-shredding the sealed fields read as null', async () => {
    const userId = await newUser();
    await links.link(userId, {
      provider: 'discord',
      subject: '42',
      displayName: 'Lin',
      email: 'l@x.example',
      emailVerified: true,
    });
    await links.link(userId, {
      provider: 'github',
      subject: '43',
      displayName: 'Lin',
      email: null,
      emailVerified: false,
    });
    expect(await links.unlink(userId, 'github')).toBeDefined();
    expect(await links.unlink(userId, 'github')).toBeUndefined();
    await userKeys.shred(userId);
    expect(await links.list(userId)).toMatchObject([{ provider: 'discord', displayName: null, email: null }]);
    // Nothing new is sealed for an erased person.
    await expect(
      links.link(userId, { provider: 'google', subject: 'g-9', displayName: 'Lin', email: null, emailVerified: false }),
    ).rejects.toMatchObject({ code: 'OAUTH_ACCOUNT_INACTIVE' });
  });

  it('links nothing to a person blocked (or gone) since the link was started', async () => {
    const userId = await newUser();
    await database.db.execute(sql`update users set status = 'blocked' where id = ${userId}`);
    const identity = {
      provider: 'github' as const,
      subject: '77',
      displayName: null,
      email: null,
      emailVerified: false,
    };
    await expect(links.link(userId, identity)).rejects.toMatchObject({ code: 'OAUTH_ACCOUNT_INACTIVE' });
    await expect(links.link('00000000-0000-4000-8000-000000000000', identity)).rejects.toMatchObject({
      code: 'OAUTH_ACCOUNT_INACTIVE',
    });
  });
});
