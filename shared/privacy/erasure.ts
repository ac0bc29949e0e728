/**
 * Erasure (GDPR Art. 17), after the grace period: the account is closed and its sessions ended, then every
 * table holding the person's rows is handled as the data map says (rows deleted, values cleared or replaced),
 * export files are removed, and the person's data key is destroyed, which erases every sealed value (audit
 * details included) in the database and in every backup without touching the hash-chained audit trail.
 * Each step is recorded when done, so a run interrupted by a crash resumes where it stopped; every step is
 * idempotent, so a step that ran but was not recorded simply runs again.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { AuditLog } from '../audit/index.ts';
import type { UserKeys } from '../crypto/user-keys.ts';
import type { Db } from '../db/index.ts';
import { users } from '../db/schema.ts';
import { privacyErasureSteps, privacyRequests } from '../db/schema-privacy.ts';
import type { SessionStore } from '../tokens/sessions.ts';
import { type DataMap, dataMap, subjectTables, type TableSpec } from './data-map.ts';
import { removeExportFiles } from './export.ts';
import { getRequest } from './requests.ts';
import { ident, rowIdColumn, rowsOf } from './walk.ts';

/** Rows deleted per statement: keeps each transaction short on a large table. */
export const ERASURE_BATCH_SIZE = 1_000;

export interface ErasureDeps {
  db: Db;
  userKeys: Pick<UserKeys, 'shred'>;
  sessions?: Pick<SessionStore, 'revokeAll'> | undefined;
  /** Where export files live (DATA_DIR/exports). */
  exportDir: string;
  audit?: Pick<AuditLog, 'record'> | undefined;
  map?: DataMap;
  batchSize?: number;
  now?: () => Date;
  /** Called after each recorded step (tests use it to interrupt a run, as a crash would). */
  afterStep?: (step: string) => Promise<void> | void;
}

export type ErasureOutcome =
  | { status: 'completed'; steps: Record<string, number> }
  | { status: 'cancelled' | 'not_due' | 'not_found' };

/** What the map says to do with a table's rows. */
export function erasurePlan(spec: TableSpec): { deleteRows: boolean; setNull: string[]; pseudonymise: string[] } {
  const columns = Object.entries(spec.columns);
  return {
    deleteRows: columns.some(([, column]) => column.erasure === 'delete_row'),
    setNull: columns.filter(([, column]) => column.erasure === 'set_null').map(([name]) => name),
    pseudonymise: columns.filter(([, column]) => column.erasure === 'pseudonymise').map(([name]) => name),
  };
}

/** Applies the map to one table; returns the rows changed. Idempotent. */
async function eraseTable(db: Db, table: string, spec: TableSpec, userId: string, batchSize: number) {
  if (spec.subjectColumn === null) return 0;
  const plan = erasurePlan(spec);
  const subject = ident(spec.subjectColumn);
  if (plan.deleteRows) {
    const id = ident(rowIdColumn(spec));
    let total = 0;
    for (;;) {
      const query = sql.raw(
        `delete from ${ident(table)} where ${id} in (select ${id} from ${ident(table)} where ${subject} = `,
      );
      query.append(sql`${userId}`);
      query.append(sql.raw(` limit ${batchSize}) returning 1 as gone`));
      const deleted = rowsOf(await db.execute(query)).length;
      total += deleted;
      if (deleted < batchSize) return total;
    }
  }
  const assignments = [
    ...plan.setNull.map((column) => sql.raw(`${ident(column)} = null`)),
    // A fresh random value per erasure, stored nowhere: the replacement links to no one.
    ...plan.pseudonymise.map((column) => sql.join([sql.raw(`${ident(column)} = `), sql`${`erased:${randomUUID()}`}`])),
  ];
  if (assignments.length === 0) return 0;
  const anyLeft = [...plan.setNull, ...plan.pseudonymise].map((column) => `${ident(column)} is not null`).join(' or ');
  const query = sql.join([sql.raw(`update ${ident(table)} set `), sql.join(assignments, sql.raw(', '))]);
  query.append(sql.raw(` where ${subject} = `));
  query.append(sql`${userId}`);
  // Pseudonymised values are replaced once: a resumed run leaves them as they are.
  query.append(
    sql.raw(
      ` and (${plan.setNull.length > 0 ? anyLeft : 'false'}${plan.pseudonymise
        .map((column) => ` or (${ident(column)} is not null and ${ident(column)}::text not like 'erased:%')`)
        .join('')}) returning 1 as changed`,
    ),
  );
  return rowsOf(await db.execute(query)).length;
}

/**
 * Runs (or resumes) the erasure request `requestId`.
 * @returns `completed` with rows changed per step; `not_due` during the grace period; `cancelled`; `not_found`.
 */
export async function runErasure(deps: ErasureDeps, requestId: string): Promise<ErasureOutcome> {
  const { db } = deps;
  const now = (deps.now ?? (() => new Date()))();
  const request = await getRequest(db, requestId);
  if (request?.kind !== 'erasure') return { status: 'not_found' };
  if (request.status === 'cancelled') return { status: 'cancelled' };
  if (request.status === 'scheduled' && request.effectiveAt && request.effectiveAt.getTime() > now.getTime()) {
    return { status: 'not_due' };
  }
  const userId = request.userId;
  if (request.status === 'scheduled') {
    // Only one runner moves it on; a cancellation that won the race leaves it cancelled.
    const [moved] = await db
      .update(privacyRequests)
      .set({ status: 'processing' })
      .where(and(eq(privacyRequests.id, requestId), eq(privacyRequests.status, 'scheduled')))
      .returning({ id: privacyRequests.id });
    if (!moved) return runErasure(deps, requestId);
  }

  const doneRows = await db.select().from(privacyErasureSteps).where(eq(privacyErasureSteps.requestId, requestId));
  const steps: Record<string, number> = Object.fromEntries(doneRows.map((row) => [row.step, row.rows]));
  const batchSize = deps.batchSize ?? ERASURE_BATCH_SIZE;
  const step = async (name: string, run: () => Promise<number>) => {
    if (name in steps) return;
    const rows = await run();
    await db.insert(privacyErasureSteps).values({ requestId, step: name, rows }).onConflictDoNothing();
    steps[name] = rows;
    await deps.afterStep?.(name);
  };

  await step('account', async () => {
    // Closed first: API keys, sign-in and the bot stop acting for the account while the rest is erased.
    const closed = await db
      .update(users)
      .set({ status: 'deleted', updatedAt: now })
      .where(eq(users.id, userId))
      .returning({ id: users.id });
    return closed.length;
  });
  await step('sessions', async () => (deps.sessions ? deps.sessions.revokeAll(userId) : 0));
  await step('exports', async () => {
    const exports = await db
      .select({ id: privacyRequests.id })
      .from(privacyRequests)
      .where(and(eq(privacyRequests.userId, userId), eq(privacyRequests.kind, 'access')));
    for (const item of exports) await removeExportFiles(deps.exportDir, item.id);
    return exports.length;
  });
  const tables = subjectTables(deps.map ?? dataMap);
  for (const [table, spec] of tables.filter(([name]) => name !== 'users')) {
    await step(`table:${table}`, () => eraseTable(db, table, spec, userId, batchSize));
  }
  // Destroying the key erases every value sealed with it, in this database and in every backup of it.
  await step('key', async () => ((await deps.userKeys.shred(userId)) ? 1 : 0));
  for (const [table, spec] of tables.filter(([name]) => name === 'users')) {
    await step(`table:${table}`, () => eraseTable(db, table, spec, userId, batchSize));
  }

  await db
    .update(privacyRequests)
    .set({ status: 'completed', completedAt: now, progress: null })
    .where(and(eq(privacyRequests.id, requestId), eq(privacyRequests.status, 'processing')));
  await deps.audit?.record({
    actor: { type: 'system', id: 'worker:privacy' },
    subjectUserId: userId,
    action: 'privacy.erasure_completed',
    target: { type: 'privacy_request', id: requestId },
    result: 'success',
    source: 'worker',
  });
  return { status: 'completed', steps };
}
