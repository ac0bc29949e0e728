/**
 * Audit-trail test helpers: sample events, recording many of them, and tampering the way a superuser or the
 * table owner could (with the append-only triggers switched off for one transaction).
 */
import { sql } from 'drizzle-orm';
import type { AuditEvent, AuditLog, AuditRecord } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';

/** A sign-in event; `overrides` replace fields. */
export function sampleEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    actor: { type: 'user', id: '0e7f3f4c-6a8b-4f1e-9a51-0c3f6b8f2d11' },
    action: 'auth.login',
    result: 'success',
    source: 'api',
    requestId: 'req-1',
    ip: '198.51.100.23',
    ...overrides,
  };
}

/** Records `count` events one after another (so seq follows the index). */
export async function recordMany(
  audit: AuditLog,
  count: number,
  make: (index: number) => AuditEvent = (index) => sampleEvent({ requestId: `req-${index}` }),
): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for (let index = 0; index < count; index++) records.push(await audit.record(make(index)));
  return records;
}

/**
 * Runs `statements` with triggers disabled for this transaction only (`session_replication_role = replica`,
 * which needs superuser: PGlite's user and the test server's `postgres` are).
 */
export async function asSuperuser(db: Db, statements: readonly ReturnType<typeof sql>[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`set local session_replication_role = replica`);
    for (const statement of statements) await tx.execute(statement);
  });
}

/** The rows of a raw `db.execute` result (node-postgres and PGlite both answer `{ rows }`). */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

/** The text of a rejected promise, including the database error Drizzle wraps as `cause`. */
export async function rejectionOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const parts: string[] = [];
    for (let current: unknown = error; current instanceof Error; current = current.cause) parts.push(current.message);
    return parts.join(' | ');
  }
  throw new Error('expected the promise to be rejected');
}
