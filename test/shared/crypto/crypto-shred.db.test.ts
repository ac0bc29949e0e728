/**
 * Erasure must reach every copy. Personal fields are sealed with the person's own data key, kept in a
 * separate key store; destroying that key (crypto-shredding) makes the fields unreadable in the live database
 * AND in a dump taken before the erasure, while the rows stay valid and everyone else's data stays readable.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FieldContext } from '#shared/crypto/field-cipher.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { createUserKeys, UserKeyShreddedError, type UserKeys } from '#shared/crypto/user-keys.ts';
import type { Db } from '#shared/db/index.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';

const master = randomBytesOf(32);
const ADA = '0b9f6a0e-9a5e-4c55-8f1e-000000000a0a';
const BOB = '0b9f6a0e-9a5e-4c55-8f1e-000000000b0b';
const context = (rowId: string): FieldContext => ({ table: 'profiles', column: 'display_name', rowId });

let data: TestDatabase;
let keystore: TestDatabase;
let userKeys: UserKeys;

type Dump = Record<string, unknown[]>;

const rowsOf = <T>(result: unknown) => (result as { rows: T[] }).rows;

/** A logical dump of every table in the public schema (what a nightly backup holds). */
async function dumpDatabase(db: Db): Promise<Dump> {
  const tables = rowsOf<{ tablename: string }>(
    await db.execute(sql`select tablename from pg_tables where schemaname = 'public' order by tablename`),
  );
  const dump: Dump = {};
  for (const { tablename } of tables) {
    dump[tablename] = rowsOf<{ row: unknown }>(
      await db.execute(sql.raw(`select to_jsonb(t) as row from "${tablename}" t`)),
    ).map((row) => row.row);
  }
  return dump;
}

async function restoreDatabase(dump: Dump): Promise<TestDatabase> {
  const restored = await createTestDatabase();
  await restored.db.execute(
    sql`create table profiles (id uuid primary key, user_id uuid not null, display_name bytea)`,
  );
  for (const [table, rows] of Object.entries(dump)) {
    for (const row of rows) {
      await restored.db.execute(
        sql`insert into ${sql.raw(`"${table}"`)} select * from jsonb_populate_record(null::${sql.raw(`"${table}"`)}, ${JSON.stringify(row)}::jsonb)`,
      );
    }
  }
  return restored;
}

async function profileName(db: Db, keys: UserKeys, rowId: string, userId: string): Promise<string | null> {
  const [row] = rowsOf<{ display_name: Uint8Array }>(
    await db.execute(sql`select display_name from profiles where id = ${rowId}`),
  );
  if (!row) throw new Error('row missing');
  const opened = await keys.openForUser(userId, Buffer.from(row.display_name), context(rowId));
  return opened?.toString() ?? null;
}

beforeAll(async () => {
  data = await createTestDatabase();
  keystore = await createTestKeystore();
  const ring = await loadKeyRing(data.db, master);
  userKeys = createUserKeys({ keystore: keystore.db, ring });
  await data.db.execute(sql`create table profiles (id uuid primary key, user_id uuid not null, display_name bytea)`);
  for (const [rowId, userId, name] of [
    ['00000000-0000-4000-8000-0000000000a1', ADA, 'Ada Lovelace'],
    ['00000000-0000-4000-8000-0000000000b1', BOB, 'Bob Builder'],
  ] as const) {
    const sealed = await userKeys.sealForUser(userId, name, context(rowId));
    await data.db.execute(sql`insert into profiles values (${rowId}, ${userId}, ${sealed})`);
  }
});
afterAll(async () => {
  await keystore.close();
  await data.close();
});

describe('crypto-shredding', () => {
  it('makes a dump taken before the erasure unreadable for that person, and only for them', async () => {
    const before = await dumpDatabase(data.db);
    const adaRow = (before.profiles as { user_id: string; display_name: string }[]).find((row) => row.user_id === ADA);
    expect(adaRow?.display_name).toMatch(/^\\x[0-9a-f]{40,}$/); // the dump holds Ada's ciphertext
    expect(JSON.stringify(before)).not.toContain('Ada Lovelace'); // and never her plaintext
    expect(await profileName(data.db, userKeys, '00000000-0000-4000-8000-0000000000a1', ADA)).toBe('Ada Lovelace');

    expect(await userKeys.shred(ADA)).toBe(true);
    expect(await userKeys.shred(ADA)).toBe(false); // idempotent

    // The live database: the row is still there and valid, the field is gone for good.
    const [{ count } = { count: 0 }] = rowsOf<{ count: number }>(
      await data.db.execute(sql`select count(*)::int as count from profiles where user_id = ${ADA}`),
    );
    expect(count).toBe(1);
    expect(await profileName(data.db, userKeys, '00000000-0000-4000-8000-0000000000a1', ADA)).toBeNull();

    // The old dump, restored with the same MASTER_KEY and a fresh process (no cached keys).
    const restored = await restoreDatabase(before);
    const freshProcess = createUserKeys({ keystore: keystore.db, ring: await loadKeyRing(restored.db, master) });
    expect(await profileName(restored.db, freshProcess, '00000000-0000-4000-8000-0000000000a1', ADA)).toBeNull();
    expect(await profileName(restored.db, freshProcess, '00000000-0000-4000-8000-0000000000b1', BOB)).toBe(
      'Bob Builder',
    );
    await restored.close();
  });

  it('keeps no key material for a shredded person and seals nothing new for them', async () => {
    const [row] = rowsOf<{ wrapped_key: unknown; shredded_at: unknown }>(
      await keystore.db.execute(sql`select wrapped_key, shredded_at from user_keys where user_id = ${ADA}`),
    );
    expect(row?.wrapped_key).toBeNull();
    expect(row?.shredded_at).not.toBeNull();
    expect(await userKeys.isShredded(ADA)).toBe(true);
    await expect(userKeys.sealForUser(ADA, 'again', context('x'))).rejects.toBeInstanceOf(UserKeyShreddedError);
  });

  it('tombstones a person erased before they ever had a key', async () => {
    const never = '0b9f6a0e-9a5e-4c55-8f1e-00000000cccc';
    expect(await userKeys.shred(never)).toBe(true);
    await expect(userKeys.sealForUser(never, 'x', context('y'))).rejects.toBeInstanceOf(UserKeyShreddedError);
  });

  it('binds a sealed field to its person: swapping rows between people fails to open', async () => {
    const carol = '0b9f6a0e-9a5e-4c55-8f1e-00000000c0c0';
    const sealed = await userKeys.sealForUser(BOB, 'Bob Builder', context('row-1'));
    await userKeys.sealForUser(carol, 'Carol', context('row-2'));
    await expect(userKeys.openForUser(carol, sealed, context('row-1'))).rejects.toThrow();
  });
});
