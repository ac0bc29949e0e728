/**
 * Verification of the whole trail, for `npm run audit:verify` and the admin surfaces: every link of the hash
 * chain, every signed checkpoint, and the two ends (a pruned start must be vouched for by an old checkpoint;
 * no checkpoint may cover entries that are gone).
 */
import type { KeyObject } from 'node:crypto';
import { and, asc, eq, gt, lt, max, min } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { auditCheckpoints, auditLog } from '../db/schema-audit.ts';
import {
  AUDIT_VERIFY_BATCH_SIZE,
  type AuditBreak,
  type ChainLink,
  chainBreak,
  checkCheckpoint,
  walkChain,
} from './chain.ts';
import { GENESIS_HASH } from './encoding.ts';
import { AUDIT_RETENTION_DAYS } from './retention.ts';
import { ed25519KeyId } from './signing-key.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Trusted keys and tuning for {@link verifyAuditLog}. */
export interface VerifyAuditLogOptions {
  /** Trusted checkpoint keys (Ed25519 public keys); checkpoints signed by any other key are reported. */
  publicKeys: readonly KeyObject[];
  batchSize?: number;
  now?: () => Date;
}

/** The outcome of {@link verifyAuditLog}. */
export interface AuditVerification {
  /** True when every link and every checkpoint holds. */
  ok: boolean;
  /** Entries whose links were verified (all of them when ok). */
  checked: number;
  /** The oldest entry (greater than 1 after retention pruning), or null for an empty log. */
  firstSeq: number | null;
  lastSeq: number | null;
  /** Hex hash of the newest entry. */
  headHash: string | null;
  firstBroken?: AuditBreak;
  checkpoints: {
    /** Checkpoints whose signature and head hash held. */
    checked: number;
    /** Checkpoints of pruned entries (signature checked; nothing left to compare). */
    beforeStart: number;
    latest: { seq: number; createdAt: Date; keyId: string } | null;
    /** Entries newer than the latest checkpoint: chained, but not signed yet. */
    unsignedEntries: number;
  };
}

/**
 * Verifies the audit trail from its first entry to its last, streaming entries in batches.
 * @returns `ok: false` with the first broken link (its seq and reason) when anything was altered, removed,
 *   reordered or forged; never throws for a broken chain.
 * @example
 * const result = await verifyAuditLog(db, { publicKeys: [deriveAuditSigningKey(masterKey).publicKey] });
 * if (!result.ok) console.error(result.firstBroken?.message);
 */
export async function verifyAuditLog(db: Db, options: VerifyAuditLogOptions): Promise<AuditVerification> {
  const batchSize = options.batchSize ?? AUDIT_VERIFY_BATCH_SIZE;
  const now = options.now?.() ?? new Date();
  const keys = new Map(options.publicKeys.map((key) => [ed25519KeyId(key), key] as const));

  // Checkpoints are read before entries: a checkpoint committed first covers entries committed before it,
  // so a newest checkpoint beyond the newest entry means entries were removed (not a race with writers).
  const [checkpointBounds] = await db.select({ last: max(auditCheckpoints.seq) }).from(auditCheckpoints);
  const [bounds] = await db.select({ first: min(auditLog.seq), last: max(auditLog.seq) }).from(auditLog);
  const firstSeq = bounds?.first == null ? null : Number(bounds.first);
  const lastSeq = bounds?.last == null ? null : Number(bounds.last);
  const lastCheckpointSeq = checkpointBounds?.last == null ? null : Number(checkpointBounds.last);

  const result: AuditVerification = {
    ok: true,
    checked: 0,
    firstSeq,
    lastSeq,
    headHash: null,
    checkpoints: { checked: 0, beforeStart: 0, latest: null, unsignedEntries: 0 },
  };
  const broken = (problem: AuditBreak): AuditVerification => ({ ...result, ok: false, firstBroken: problem });

  if (lastCheckpointSeq !== null && (lastSeq === null || lastCheckpointSeq > lastSeq)) {
    return broken(
      chainBreak((lastSeq ?? 0) + 1, 'entries_missing_at_end', `checkpoint at seq ${lastCheckpointSeq} is newer`),
    );
  }
  if (firstSeq === null || lastSeq === null) return result;

  // Checkpoints of pruned entries: nothing to compare them with, but a forged one is still reported.
  for (let cursor = 0; ; ) {
    const page = await db
      .select()
      .from(auditCheckpoints)
      .where(and(gt(auditCheckpoints.seq, cursor), lt(auditCheckpoints.seq, firstSeq - 1)))
      .orderBy(asc(auditCheckpoints.seq))
      .limit(batchSize);
    for (const checkpoint of page) {
      const reason = checkCheckpoint(checkpoint, keys, null);
      if (reason) return broken(chainBreak(checkpoint.seq, reason));
      result.checkpoints.beforeStart++;
      cursor = checkpoint.seq;
    }
    if (page.length < batchSize) break;
  }

  let after: ChainLink = { seq: 0, hash: GENESIS_HASH, occurredAt: null };
  if (firstSeq > 1) {
    // Retention removed the oldest entries: the cut must sit exactly on a valid checkpoint that is itself past
    // the retention period, or someone removed entries that were still to be kept.
    const [anchor] = await db
      .select()
      .from(auditCheckpoints)
      .where(eq(auditCheckpoints.seq, firstSeq - 1));
    if (!anchor) return broken(chainBreak(firstSeq, 'start_unanchored', `no checkpoint at seq ${firstSeq - 1}`));
    const reason = checkCheckpoint(anchor, keys, null);
    if (reason) return broken(chainBreak(anchor.seq, reason));
    if (anchor.createdAt.getTime() > now.getTime() - AUDIT_RETENTION_DAYS * DAY_MS) {
      return broken(chainBreak(firstSeq, 'start_unanchored', `checkpoint at seq ${anchor.seq} is too recent`));
    }
    result.checkpoints.checked++;
    result.checkpoints.latest = { seq: anchor.seq, createdAt: anchor.createdAt, keyId: anchor.keyId };
    after = { seq: anchor.seq, hash: anchor.headHash, occurredAt: null };
  }

  const walk = await walkChain(db, { after, toSeq: lastSeq, batchSize, keys });
  result.checked = walk.checked;
  result.checkpoints.checked += walk.checkpointsChecked;
  if (walk.latestCheckpoint) {
    const { seq, createdAt, keyId } = walk.latestCheckpoint;
    result.checkpoints.latest = { seq, createdAt, keyId };
  }
  result.headHash = walk.last.seq > 0 ? walk.last.hash.toString('hex') : null;
  result.checkpoints.unsignedEntries = walk.last.seq - (result.checkpoints.latest?.seq ?? firstSeq - 1);
  return walk.broken ? broken(walk.broken) : result;
}
