/**
 * Database access: node-postgres when DATABASE_URL is set, embedded PGlite in DATA_DIR otherwise.
 * The same Drizzle schema, migrations and queries run on both.
 */
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';

export { schema };
/** The Drizzle database type common to node-postgres and PGlite. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type DbKind = 'postgres' | 'pglite';

export interface Database {
  db: Db;
  kind: DbKind;
  /** Runs a trivial query; throws when the database cannot answer. */
  ping(): Promise<void>;
  /** Applies pending migrations under an advisory lock (safe with several processes starting at once). */
  migrate(): Promise<void>;
  /** True when every migration shipped with this build has been applied. */
  isMigrated(): Promise<boolean>;
  close(): Promise<void>;
}

export { type ConnectDatabaseOptions, connectDatabase, KEYSTORE_MIGRATIONS_DIR, MIGRATIONS_DIR } from './connect.ts';
