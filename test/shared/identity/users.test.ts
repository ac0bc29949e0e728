/**
 * Users are created from a Telegram id with the least data possible; bootstrap admins come only from
 * ADMIN_TELEGRAM_IDS, and a malformed language code is dropped rather than stored.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findUserByTelegramId, normaliseLanguageCode, upsertTelegramUser } from '#shared/identity/users.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
beforeEach(async () => {
  await database.truncate();
});
afterAll(async () => {
  await database.close();
});

describe('upsertTelegramUser', () => {
  it('creates a user once and updates the language on later contact', async () => {
    const first = await upsertTelegramUser(database.db, { telegramId: 77, languageCode: 'en', adminTelegramIds: [] });
    expect(first.created).toBe(true);
    expect(first.user).toMatchObject({ telegramId: 77, role: 'user', status: 'active', languageCode: 'en' });
    const again = await upsertTelegramUser(database.db, { telegramId: 77, languageCode: 'de', adminTelegramIds: [] });
    expect(again.created).toBe(false);
    expect(again.user.id).toBe(first.user.id);
    expect(again.user.languageCode).toBe('de');
    const kept = await upsertTelegramUser(database.db, {
      telegramId: 77,
      languageCode: undefined,
      adminTelegramIds: [],
    });
    expect(kept.user.languageCode).toBe('de');
  });

  it('makes bootstrap admins admins, and nobody else', async () => {
    const admin = await upsertTelegramUser(database.db, { telegramId: 1, adminTelegramIds: [1] });
    const user = await upsertTelegramUser(database.db, { telegramId: 2, adminTelegramIds: [1] });
    expect(admin.user.role).toBe('admin');
    expect(user.user.role).toBe('user');
  });

  it('survives concurrent first contacts from the same user (unique Telegram id)', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map(() => upsertTelegramUser(database.db, { telegramId: 99, adminTelegramIds: [] })),
    );
    expect(new Set(results.map((result) => result.user.id)).size).toBe(1);
    expect(results.filter((result) => result.created)).toHaveLength(1);
  });

  it('rejects impossible ids and drops malformed language codes', async () => {
    await expect(upsertTelegramUser(database.db, { telegramId: -5, adminTelegramIds: [] })).rejects.toThrow();
    const { user } = await upsertTelegramUser(database.db, {
      telegramId: 5,
      languageCode: "en'; drop table users;--",
      adminTelegramIds: [],
    });
    expect(user.languageCode).toBeNull();
    expect(await findUserByTelegramId(database.db, 5)).toMatchObject({ telegramId: 5 });
    expect(normaliseLanguageCode('pt-BR')).toBe('pt-br');
    expect(normaliseLanguageCode('x'.repeat(40))).toBeNull();
  });
});
