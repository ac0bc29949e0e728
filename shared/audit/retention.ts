/**
 * Retention of the audit trail: entries are kept for {@link AUDIT_RETENTION_DAYS}, then removed from the oldest
 * end, and only up to a signed checkpoint, so the shortened chain still starts from a vouched-for hash.
 */
import { and, desc, lt, lte, max, sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { auditCheckpoints, auditLog } from '../db/schema-audit.ts';
import type { AuditLog } from './record.ts';

/**
 * Days an audit entry is kept. Security logs are kept long enough to investigate an incident reported late
 * (GDPR Art. 33 breach assessment; PCI DSS 10.5.1 asks for one year). The append-only trigger
 * (migration 0003_audit_append_only) allows deleting only entries older than this: keep the two in step.
 */
export const AUDIT_RETENTION_DAYS = 365;
/**
 * Pruning stops at checkpoints at least this much older than the retention period: entry times come from
 * each writer's clock, so a little skew must not make the trigger refuse an entry at the edge.
 */
const PRUNE_CLOCK_MARGIN_DAYS = 1;
/** Entries deleted per statement while pruning, so one run never holds a huge transaction. */
const PRUNE_BATCH_SIZE = 5_000;

/** What {@link pruneAuditLog} removed. */
export interface PruneAuditLogResult {
  /** Entries deleted. */
  deleted: number;
  /** The oldest entry left, or null when nothing was pruned. */
  firstSeq: number | null;
}

/**
 * Deletes the entries that are past retention, up to the newest checkpoint that is itself past retention (and
 * never the newest entry, which the next one links to). Idempotent; records `audit.pruned` when `audit` is given.
 * Time comes from the database clock, the same clock the append-only trigger checks.
 */
export async function pruneAuditLog(db: Db, options: { audit?: AuditLog } = {}): Promise<PruneAuditLogResult> {
  const cutoff = sql`now() - make_interval(days => ${AUDIT_RETENTION_DAYS + PRUNE_CLOCK_MARGIN_DAYS})`;
  const [head] = await db.select({ seq: max(auditLog.seq) }).from(auditLog);
  const headSeq = head?.seq == null ? null : Number(head.seq);
  if (headSeq === null) return { deleted: 0, firstSeq: null };
  const [anchor] = await db
    .select({ seq: auditCheckpoints.seq })
    .from(auditCheckpoints)
    .where(and(lt(auditCheckpoints.createdAt, cutoff), lt(auditCheckpoints.seq, headSeq)))
    .orderBy(desc(auditCheckpoints.seq))
    .limit(1);
  if (!anchor) return { deleted: 0, firstSeq: null };

  let deleted = 0;
  for (;;) {
    const [oldest] = await db.select({ seq: auditLog.seq }).from(auditLog).orderBy(auditLog.seq).limit(1);
    if (!oldest || oldest.seq > anchor.seq) break;
    const upTo = Math.min(anchor.seq, oldest.seq + PRUNE_BATCH_SIZE - 1);
    const removed = await db.delete(auditLog).where(lte(auditLog.seq, upTo)).returning({ seq: auditLog.seq });
    deleted += removed.length;
  }
  if (deleted > 0) {
    await options.audit?.record({
      actor: { type: 'system', id: 'audit:retention' },
      action: 'audit.pruned',
      target: { type: 'audit_entry', id: String(anchor.seq + 1) },
      result: 'success',
      reasonCode: 'RETENTION_EXPIRED',
      source: 'worker',
    });
  }
  return { deleted, firstSeq: deleted > 0 ? anchor.seq + 1 : null };
}
