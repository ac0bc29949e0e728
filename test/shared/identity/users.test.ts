/**
 * Users are created from a Telegram id with the least data possible; bootstrap admins come only from
 * ADMIN_TELEGRAM_IDS, and a malformed language code is dropped rather than stored. The Telegram id itself is
 * never stored in clear: a keyed blind index finds the person, a value sealed with their data key says who they
 * are, and once that key is destroyed the id can no longer be read. Rows from before are converted at start.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keyedHash } from '#shared/crypto/hash.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import { type Db, MIGRATIONS_DIR } from '#shared/db/index.ts';
import { changeRole } from '#shared/identity/roles.ts';
import {
  backfillTelegramIds,
  bindUserIdentity,
  deriveTelegramIdIndexKey,
  findUserById,
  findUserByTelegramId,
  listActiveAdmins,
  listUsersPage,
  normaliseLanguageCode,
  openTelegramIds,
  telegramAccountPseudonym,
  telegramIdIndex,
  upsertTelegramUser,
} from '#shared/identity/users.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
let keystore: TestDatabase;
let userKeys: UserKeys;
const masterKey = randomBytes(32);
const indexKey = deriveTelegramIdIndexKey(masterKey);

type Rows = { rows: Record<string, unknown>[] };
const rowsOf = async (db: Db, query: ReturnType<typeof sql>) => ((await db.execute(query)) as unknown as Rows).rows;
/** The users table as a plain dump shows it. */
const usersDump = async (db: Db) =>
  (await rowsOf(db, sql`select t::text as line from users t`)).map((row) => String(row.line)).join('\n');

beforeAll(async () => {
  [database, keystore] = await Promise.all([createTestDatabase(), createTestKeystore()]);
  userKeys = createUserKeys({ keystore: keystore.db, ring: await loadKeyRing(database.db, masterKey) });
  bindUserIdentity(database.db, { indexKey, cipher: userKeys });
});
beforeEach(async () => {
  await database.truncate();
});
afterAll(async () => {
  await database?.close();
  await keystore?.close();
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
    for (const result of results) expect(result.user.telegramId).toBe(99);
    const [row] = await rowsOf(
      database.db,
      sql`select count(*)::int as n, count(telegram_id_sealed)::int as sealed from users`,
    );
    expect(row).toEqual({ n: 1, sealed: 1 });
    expect((await findUserById(database.db, results[0]?.user.id as string))?.telegramId).toBe(99);
  });

  it('rejects impossible ids and drops malformed language codes', async () => {
    await expect(upsertTelegramUser(database.db, { telegramId: -5, adminTelegramIds: [] })).rejects.toThrow();
    await expect(upsertTelegramUser(database.db, { telegramId: 1.5, adminTelegramIds: [] })).rejects.toThrow();
    const { user } = await upsertTelegramUser(database.db, {
      telegramId: 5,
      languageCode: "en'; drop table users;--",
      adminTelegramIds: [],
    });
    expect(user.languageCode).toBeNull();
    expect(await findUserByTelegramId(database.db, 5)).toMatchObject({ telegramId: 5 });
    expect(await findUserByTelegramId(database.db, -5)).toBeNull();
    expect(normaliseLanguageCode('pt-BR')).toBe('pt-br');
    expect(normaliseLanguageCode('x'.repeat(40))).toBeNull();
  });
});

describe('the Telegram id at rest', () => {
  const telegramId = 5_123_456_789;

  it('stores only a keyed blind index and a sealed value, never the id in clear', async () => {
    const { user } = await upsertTelegramUser(database.db, { telegramId, languageCode: 'en', adminTelegramIds: [] });
    expect(user).not.toHaveProperty('telegramIdHash');
    expect(user).not.toHaveProperty('telegramIdSealed');
    expect(await usersDump(database.db)).not.toContain(String(telegramId));
    const [row] = await rowsOf(
      database.db,
      sql`select telegram_id, telegram_id_hash, telegram_id_sealed from users where id = ${user.id}`,
    );
    expect(row?.telegram_id).toBeNull();
    // HMAC-SHA256 under a key derived from the master key: without it, ids cannot be tested against the index.
    expect(row?.telegram_id_hash).toBe(keyedHash(indexKey, `telegram-id\u0000${telegramId}`));
    expect(row?.telegram_id_hash).not.toBe(telegramIdIndex(deriveTelegramIdIndexKey(randomBytes(32)), telegramId));
    const sealed = Buffer.from(row?.telegram_id_sealed as Uint8Array);
    const context = { table: 'users', column: 'telegram_id_sealed', rowId: user.id };
    expect((await userKeys.openForUser(user.id, sealed, context))?.toString()).toBe(String(telegramId));
    // Bound to its row: the same value copied to another person's row does not open.
    const other = (await upsertTelegramUser(database.db, { telegramId: 6, adminTelegramIds: [] })).user;
    await expect(userKeys.openForUser(other.id, sealed, { ...context, rowId: other.id })).rejects.toThrow();
  });

  it('finds people by Telegram id and opens the id of people loaded by id, in lists too', async () => {
    const admin = (await upsertTelegramUser(database.db, { telegramId: 11, adminTelegramIds: [11] })).user;
    const user = (await upsertTelegramUser(database.db, { telegramId, adminTelegramIds: [] })).user;
    expect(await findUserByTelegramId(database.db, telegramId)).toMatchObject({ id: user.id, telegramId });
    expect(await findUserByTelegramId(database.db, telegramId + 1)).toBeNull();
    expect(await findUserById(database.db, user.id)).toEqual(user);
    expect((await listActiveAdmins(database.db)).map((person) => [person.id, person.telegramId])).toEqual([
      [admin.id, 11],
    ]);
    const page = await listUsersPage(database.db, { offset: 0, limit: 10 });
    expect(page.total).toBe(2);
    expect(page.rows.map((person) => person.telegramId).sort()).toEqual([11, telegramId].sort());
    // A role change keeps the sealed id readable (it is bound to the row, not to the role).
    await changeRole(database.db, { userId: user.id, role: 'readonly' });
    expect(await findUserById(database.db, user.id)).toMatchObject({ role: 'readonly', telegramId });
  });

  it('keeps one person per Telegram id in the database itself (unique index), whatever the code does', async () => {
    await upsertTelegramUser(database.db, { telegramId, adminTelegramIds: [] });
    const hash = telegramIdIndex(indexKey, telegramId);
    await expect(database.db.execute(sql`insert into users (telegram_id_hash) values (${hash})`)).rejects.toThrow();
    // A row nobody could ever find again is refused too.
    await expect(database.db.execute(sql`insert into users (language_code) values ('en')`)).rejects.toThrow();
    await expect(
      database.db.execute(sql`insert into users (telegram_id_hash) values ('not-a-hash')`),
    ).rejects.toThrow();
  });

  it('can no longer read the id once the person’s key is destroyed', async () => {
    const { user } = await upsertTelegramUser(database.db, { telegramId, adminTelegramIds: [11, telegramId] });
    const [row] = await rowsOf(database.db, sql`select id, telegram_id, telegram_id_sealed from users`);
    await userKeys.shred(user.id);
    expect(await findUserById(database.db, user.id)).toBeNull();
    expect(await listActiveAdmins(database.db)).toEqual([]);
    expect(await listUsersPage(database.db, { offset: 0, limit: 10 })).toEqual({ rows: [], total: 1 });
    // The value a dump taken before holds does not open either.
    const [opened] = await openTelegramIds(database.db, [
      {
        id: String(row?.id),
        legacyTelegramId: null,
        telegramIdSealed: Buffer.from(row?.telegram_id_sealed as Uint8Array),
      },
    ]);
    expect(opened).toBeNull();
    // Nothing new is sealed for them: another contact before the erasure ends stores nothing readable.
    await upsertTelegramUser(database.db, { telegramId, adminTelegramIds: [] });
    expect(await findUserById(database.db, user.id)).toBeNull();
  });

  it('names a Telegram account in records by a keyed pseudonym: stable, not the id, not the users index', async () => {
    const pseudonym = telegramAccountPseudonym(database.db, telegramId);
    expect(pseudonym).toMatch(/^[0-9a-f]{32}$/);
    expect(telegramAccountPseudonym(database.db, telegramId)).toBe(pseudonym);
    expect(telegramAccountPseudonym(database.db, telegramId + 1)).not.toBe(pseudonym);
    expect(pseudonym).not.toContain(String(telegramId));
    expect(telegramIdIndex(indexKey, telegramId).startsWith(pseudonym)).toBe(false);
    expect(() => telegramAccountPseudonym({} as Db, telegramId)).toThrow(/bindUserIdentity/);
  });

  it('refuses a database handle no identity keys were bound to', async () => {
    const unbound = {} as Db;
    await expect(findUserByTelegramId(unbound, 5)).rejects.toThrow(/bindUserIdentity/);
    await expect(upsertTelegramUser(unbound, { telegramId: 5, adminTelegramIds: [] })).rejects.toThrow(
      /bindUserIdentity/,
    );
  });
});

describe('backfillTelegramIds (databases created before the id was sealed)', () => {
  // Ten digits, so a dump's hashes, ids and timestamps cannot contain them by chance.
  const legacyIds = [7_301_000_401, 7_301_000_402, 7_301_000_403, 7_301_000_404, 7_301_000_405];
  const insertLegacy = async (db: Db, role = 'user') => {
    for (const id of legacyIds) await db.execute(sql`insert into users (telegram_id, role) values (${id}, ${role})`);
  };

  it('converts every row in batches, clears the clear id, and is idempotent under concurrent starts', async () => {
    await insertLegacy(database.db, 'admin');
    const ids = await rowsOf(database.db, sql`select id, telegram_id from users order by telegram_id`);
    const [first, second] = await Promise.all([
      backfillTelegramIds(database.db, { batchSize: 2 }),
      backfillTelegramIds(database.db, { batchSize: 2 }),
    ]);
    expect((first?.converted ?? 0) + (second?.converted ?? 0)).toBe(legacyIds.length);
    expect(await backfillTelegramIds(database.db)).toEqual({ converted: 0, skipped: 0 });
    const dump = await usersDump(database.db);
    for (const id of legacyIds) expect(dump).not.toContain(String(id));
    for (const row of ids) {
      const found = await findUserByTelegramId(database.db, Number(row.telegram_id));
      expect(found?.id).toBe(row.id);
      expect((await findUserById(database.db, String(row.id)))?.telegramId).toBe(Number(row.telegram_id));
    }
    expect((await listActiveAdmins(database.db)).map((admin) => admin.telegramId).sort()).toEqual(legacyIds);
    // The next contact finds the converted person rather than creating another.
    const again = await upsertTelegramUser(database.db, { telegramId: 7_301_000_403, adminTelegramIds: [] });
    expect(again.created).toBe(false);
  });

  it('reads rows the backfill has not reached yet from their legacy id', async () => {
    await database.db.execute(sql`insert into users (telegram_id) values (${7_301_000_406})`);
    const [row] = await rowsOf(database.db, sql`select id from users`);
    expect((await findUserById(database.db, String(row?.id)))?.telegramId).toBe(7_301_000_406);
  });

  it('upgrades a database that holds ids in clear (the migration keeps them, the start-up converts them)', async () => {
    // The migrations as shipped before this change: the journal cut before the migration that sealed the id.
    const old = mkdtempSync(join(tmpdir(), 'tsp-migrations-'));
    cpSync(MIGRATIONS_DIR, old, { recursive: true });
    const journalPath = join(old, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
    const cut = journal.entries.findIndex((entry) => entry.tag.endsWith('_users_telegram_id_sealed'));
    expect(cut).toBeGreaterThan(0);
    writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, cut) }));
    const upgraded = await createTestDatabase({ migrationsDir: old });
    try {
      const oldColumns = await rowsOf(
        upgraded.db,
        sql`select column_name from information_schema.columns where table_name = 'users' and column_name like 'telegram_id%'`,
      );
      expect(oldColumns.map((column) => column.column_name)).toEqual(['telegram_id']);
      await insertLegacy(upgraded.db);
      // The same migrator the start-up runs, now with every migration of this build.
      await migrate(upgraded.db as never, { migrationsFolder: MIGRATIONS_DIR });
      const newColumns = await rowsOf(
        upgraded.db,
        sql`select column_name from information_schema.columns where table_name = 'users' and column_name like 'telegram_id%' order by column_name`,
      );
      expect(newColumns.map((column) => column.column_name)).toEqual([
        'telegram_id',
        'telegram_id_hash',
        'telegram_id_sealed',
      ]);
      bindUserIdentity(upgraded.db, { indexKey, cipher: userKeys });
      expect(await backfillTelegramIds(upgraded.db)).toEqual({ converted: legacyIds.length, skipped: 0 });
      const dump = await usersDump(upgraded.db);
      for (const id of legacyIds) expect(dump).not.toContain(String(id));
      expect((await findUserByTelegramId(upgraded.db, 7_301_000_402))?.telegramId).toBe(7_301_000_402);
    } finally {
      await upgraded.close();
    }
  });
});
