/**
 * Migrations run at start in every process. They must be idempotent and safe when several processes start
 * at once (an advisory lock serialises them), and readiness must notice an unmigrated database.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '#shared/db/index.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.close();
});

async function count(query: ReturnType<typeof sql>): Promise<number> {
  const result = await database.db.execute(query);
  return Number((result as unknown as { rows: { n: string | number }[] }).rows[0]?.n);
}

describe(`migrations (${process.env.TEST_DATABASE_URL ? 'PostgreSQL server' : 'PGlite'})`, () => {
  it('creates the users table and records every migration once', async () => {
    expect(await database.isMigrated()).toBe(true);
    expect(await count(sql`select count(*) as n from information_schema.tables where table_name = 'users'`)).toBe(1);
    expect(await count(sql`select count(*) as n from drizzle.__drizzle_migrations`)).toBeGreaterThanOrEqual(1);
  });

  it('is idempotent: migrating again changes nothing', async () => {
    const before = await count(sql`select count(*) as n from drizzle.__drizzle_migrations`);
    await database.migrate();
    await database.migrate();
    expect(await count(sql`select count(*) as n from drizzle.__drizzle_migrations`)).toBe(before);
  });

  it('is safe with several processes migrating at once', async () => {
    // Separate pools stand in for separate processes (on PGlite: concurrent calls on the one connection).
    const others = database.url
      ? await Promise.all([1, 2, 3].map(() => connectDatabase({ databaseUrl: database.url, poolMax: 2 })))
      : [database, database, database];
    const before = await count(sql`select count(*) as n from drizzle.__drizzle_migrations`);
    await Promise.all(others.map((other) => other.migrate()));
    expect(await count(sql`select count(*) as n from drizzle.__drizzle_migrations`)).toBe(before);
    if (database.url) await Promise.all(others.map((other) => other.close()));
  });

  it('migrates a brand-new database from several starters at once without errors', async () => {
    if (!process.env.TEST_DATABASE_URL) {
      const fresh = await connectDatabase({ pgliteDir: 'memory://' });
      expect(await fresh.isMigrated()).toBe(false);
      await Promise.all([fresh.migrate(), fresh.migrate()]);
      expect(await fresh.isMigrated()).toBe(true);
      await fresh.close();
      return;
    }
    const fresh = await createTestDatabase(); // already migrated once; drop the schema to start over
    await fresh.db.execute(sql`drop schema drizzle cascade`);
    await fresh.db.execute(sql`drop schema public cascade`);
    await fresh.db.execute(sql`create schema public`);
    expect(await fresh.isMigrated()).toBe(false);
    const starters = await Promise.all([1, 2, 3, 4].map(() => connectDatabase({ databaseUrl: fresh.url, poolMax: 2 })));
    await Promise.all(starters.map((starter) => starter.migrate()));
    expect(await fresh.isMigrated()).toBe(true);
    await Promise.all(starters.map((starter) => starter.close()));
    await fresh.close();
  });
});
