/**
 * A fresh, migrated database per test file: PGlite in memory by default, or a new database on the
 * PostgreSQL server named by TEST_DATABASE_URL (dropped again on close). Files never share data.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import { connectDatabase, type Database, type Db, KEYSTORE_MIGRATIONS_DIR } from '#shared/db/index.ts';
import { bindUserIdentity, deriveTelegramIdIndexKey } from '#shared/identity/users.ts';

export interface TestDatabase extends Database {
  /** The URL of the per-file database on a server, undefined on PGlite. */
  url: string | undefined;
  /** Empties every application table (not the migrations table), append-only ones included; about 15 ms. */
  truncate(): Promise<void>;
}

/** True when this run targets a PostgreSQL server rather than PGlite. */
export const usesServer = Boolean(process.env.TEST_DATABASE_URL);

export async function createTestDatabase(options: { migrationsDir?: string } = {}): Promise<TestDatabase> {
  let url: string | undefined;
  let dropDatabase = async () => {};
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    const name = `t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const parsed = new URL(serverUrl);
    parsed.pathname = `/${name}`;
    url = parsed.toString();
    dropDatabase = async () => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    };
  }
  const database = await connectDatabase({
    databaseUrl: url,
    pgliteDir: 'memory://',
    poolMax: 5,
    ...(options.migrationsDir ? { migrationsDir: options.migrationsDir } : {}),
  });
  await database.migrate();
  // A data database can hold people from the start (shared/identity/users.ts needs identity keys bound to it).
  const identity = options.migrationsDir ? undefined : bindLazyTestIdentity(database.db);
  return {
    ...database,
    url,
    async truncate() {
      const result = await database.db.execute(
        sql`select tablename from pg_tables where schemaname = 'public' order by tablename`,
      );
      const tables = (result as unknown as { rows: { tablename: string }[] }).rows.map((row) => `"${row.tablename}"`);
      if (tables.length === 0) return;
      await database.db.transaction(async (tx) => {
        // The audit tables reject TRUNCATE (append-only trigger); a test reset bypasses it as a superuser could.
        await tx.execute(sql`set local session_replication_role = replica`);
        await tx.execute(sql.raw(`truncate ${tables.join(', ')} restart identity cascade`));
      });
    },
    async close() {
      await identity?.close();
      await database.close();
      await dropDatabase();
    },
  };
}

/**
 * Binds identity keys to a data database that no app (createServices) or test binds its own to: the real per-user
 * keys, over a key store and a key ring created on first use only (most test databases never hold a person).
 * The ring is stored in `db` under a master key of its own: a test that loads its own ring on the same database,
 * or builds an app on it, must bind its keys first (`bindUserIdentity`; buildTestApp does), before any person
 * is stored, or it gets a MasterKeyMismatchError.
 */
function bindLazyTestIdentity(db: Db): { close(): Promise<void> } {
  const masterKey = randomBytes(32);
  let keystore: TestDatabase | undefined;
  let userKeys: Promise<UserKeys> | undefined;
  const keys = () => {
    userKeys ??= (async () => {
      keystore = await createTestKeystore();
      return createUserKeys({ keystore: keystore.db, ring: await loadKeyRing(db, masterKey) });
    })();
    return userKeys;
  };
  bindUserIdentity(db, {
    indexKey: deriveTelegramIdIndexKey(masterKey),
    cipher: {
      sealForUser: async (userId, plaintext, context) => (await keys()).sealForUser(userId, plaintext, context),
      openForUser: async (userId, sealed, context) => (await keys()).openForUser(userId, sealed, context),
    },
  });
  return {
    async close() {
      await userKeys?.catch(() => undefined);
      await keystore?.close();
    },
  };
}

/** A fresh key store (the separate database holding per-user data keys). */
export function createTestKeystore(): Promise<TestDatabase> {
  return createTestDatabase({ migrationsDir: KEYSTORE_MIGRATIONS_DIR });
}
