/**
 * The personal-data map must describe the live schema exactly: an undeclared column is personal data that
 * export, erasure and retention would silently miss. Checked on PGlite and on the PostgreSQL server.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '#shared/db/index.ts';
import { checkDataMap, dataMap } from '#shared/privacy/data-map.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';

/** Every table and column in the public schema, as the database reports them. */
async function liveSchema(db: Db): Promise<Record<string, string[]>> {
  const result = await db.execute(
    sql`select table_name, column_name from information_schema.columns
        where table_schema = 'public' order by table_name, ordinal_position`,
  );
  const live: Record<string, string[]> = {};
  for (const row of (result as unknown as { rows: { table_name: string; column_name: string }[] }).rows) {
    live[row.table_name] = [...(live[row.table_name] ?? []), row.column_name];
  }
  return live;
}

/** The live schema exactly as the map declares it (for checks that must not depend on a database). */
function declaredTables(store: 'data' | 'keystore'): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(dataMap)
      .filter(([, spec]) => (spec.store ?? 'data') === store)
      .map(([table, spec]) => [table, Object.keys(spec.columns)]),
  );
}

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.close();
});

describe('data map', () => {
  it('declares every column of every table in the live schema, and nothing more', async () => {
    expect(checkDataMap(await liveSchema(database.db))).toEqual([]);
  });

  it('declares every column of the key store too', async () => {
    const keystore = await createTestKeystore();
    expect(checkDataMap(await liveSchema(keystore.db), dataMap, 'keystore')).toEqual([]);
    await keystore.close();
  });

  it('fails on an undeclared column, naming it', async () => {
    const scratch = await createTestDatabase();
    const before = checkDataMap(await liveSchema(scratch.db));
    await scratch.db.execute(sql`alter table users add column phone_number text`);
    expect(checkDataMap(await liveSchema(scratch.db))).toEqual([
      ...before,
      'column users.phone_number is not declared in the data map',
    ]);
    await scratch.close();
  });

  it('fails on a declared column that no longer exists, and on an undeclared table', () => {
    const live: Record<string, string[]> = {
      ...declaredTables('data'),
      users: Object.keys(dataMap.users?.columns ?? {}).filter((c) => c !== 'language_code'),
      notes: ['id'],
    };
    expect(checkDataMap(live)).toEqual([
      'table notes is not declared in the data map',
      'column users.language_code is declared but does not exist',
    ]);
  });

  it('rejects inconsistent declarations', () => {
    const broken = structuredClone(dataMap);
    const users = broken.users;
    if (!users?.columns.language_code) throw new Error('fixture');
    users.columns.language_code = { ...users.columns.language_code, erasure: 'crypto_shred', encrypted: false };
    expect(checkDataMap(declaredTables('data'), broken)).toEqual([
      'column users.language_code: crypto_shred erasure needs an encrypted column',
      "column users.language_code: crypto_shred erasure needs the subject's data key (keyScope user)",
    ]);
  });
});
