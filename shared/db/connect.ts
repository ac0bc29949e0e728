/**
 * Opens the database (node-postgres pool or embedded PGlite), with bounded retries at start and
 * migrations applied under a PostgreSQL advisory lock.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { retryWithBackoff } from '../resilience/retry.ts';
import type { Database, Db } from './index.ts';
import * as schema from './schema.ts';

/** Where drizzle-kit writes the SQL migrations committed with the code. */
export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
/** The key store's migrations (a separate database). */
export const KEYSTORE_MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'keystore', 'migrations');
/** Advisory-lock key held while migrating: any constant shared by every process of this product. */
const MIGRATION_LOCK_KEY = 7_201_522_017;

export interface ConnectDatabaseOptions {
  /** PostgreSQL URL; unset → PGlite. */
  databaseUrl?: string | undefined;
  /** PGlite data folder, or 'memory://' for an in-memory database (tests). */
  pgliteDir?: string;
  /** Total time to keep retrying an unreachable server at start. */
  connectTimeoutMs?: number;
  poolMax?: number;
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void;
  /** Migrations to apply (default: the data schema's; the key store passes its own). */
  migrationsDir?: string;
}

interface Journal {
  entries: { tag: string; when: number }[];
}

function lastMigrationMillis(migrationsDir: string): number {
  const journal = JSON.parse(readFileSync(join(migrationsDir, 'meta', '_journal.json'), 'utf8')) as Journal;
  return Math.max(0, ...journal.entries.map((entry) => entry.when));
}

async function isMigrated(db: Db, migrationsDir: string): Promise<boolean> {
  try {
    const result = await db.execute(sql`select max(created_at)::text as last from drizzle.__drizzle_migrations`);
    const row = (result as unknown as { rows: { last: string | null }[] }).rows[0];
    return row?.last != null && Number(row.last) >= lastMigrationMillis(migrationsDir);
  } catch {
    return false;
  }
}

/** Runs calls of `task` one after another within this process. */
function serialised(task: () => Promise<void>): () => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  return () => {
    const run = tail.then(task);
    tail = run.catch(() => {});
    return run;
  };
}

function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite takes one connection from one process: a second process on the same folder would corrupt it.
 * A pid lock file turns that into a clear error.
 */
function lockPgliteDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const lockPath = `${dir.replace(/\/+$/, '')}.lock`;
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(holder) && holder !== process.pid && isPidAlive(holder)) {
        throw new Error(
          `The embedded database in ${dir} is in use by process ${holder}. PGlite serves one process only: ` +
            'to run roles in separate processes, set DATABASE_URL to a PostgreSQL server.',
        );
      }
      rmSync(lockPath, { force: true }); // stale lock from a process that died
    }
  }
  throw new Error(`Could not lock ${dir}`);
}

/**
 * Connects to PostgreSQL (retrying for a bounded time) or opens PGlite.
 * @throws RetryTimeoutError when the server stays unreachable; Error when the PGlite folder is in use.
 */
export async function connectDatabase(options: ConnectDatabaseOptions): Promise<Database> {
  const migrationsFolder = options.migrationsDir ?? MIGRATIONS_DIR;
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolMax ?? 10 });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on('error', () => {});
    await retryWithBackoff(
      async () => {
        const client = await pool.connect();
        client.release();
      },
      { timeoutMs: options.connectTimeoutMs ?? 30_000, ...(options.onRetry ? { onRetry: options.onRetry } : {}) },
    );
    const db = drizzlePg(pool, { schema }) as unknown as Db;
    return {
      db,
      kind: 'postgres',
      async ping() {
        await pool.query('select 1');
      },
      migrate: serialised(async () => {
        const client = await pool.connect();
        try {
          // Several processes may start at once: one migrates, the others wait and then find nothing to do.
          await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
          await migratePg(drizzlePg(client), { migrationsFolder });
        } finally {
          await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
          client.release();
        }
      }),
      isMigrated: () => isMigrated(db, migrationsFolder),
      close: () => pool.end(),
    };
  }

  const dir = options.pgliteDir ?? 'memory://';
  const unlock = dir.startsWith('memory://') ? () => {} : lockPgliteDir(dir);
  let client: PGlite;
  try {
    client = await PGlite.create(dir);
  } catch (error) {
    unlock();
    throw error;
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    async ping() {
      await client.query('select 1');
    },
    // One connection: concurrent callers in this process must take turns (the lock file keeps other processes out).
    migrate: serialised(() => migratePglite(drizzlePglite(client), { migrationsFolder })),
    isMigrated: () => isMigrated(db, migrationsFolder),
    async close() {
      try {
        await client.close();
      } finally {
        unlock();
      }
    },
  };
}
