/**
 * Walking the chain: entries are read in `seq` order in batches (never all at once) and each link is checked,
 * together with the checkpoints that fall inside the walked range. Shared by verification and checkpointing.
 */
import { type KeyObject, verify as verifySignature } from 'node:crypto';
import { and, asc, gt, lte } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { type AuditCheckpointRow, type AuditLogRow, auditCheckpoints, auditLog } from '../db/schema-audit.ts';
import { auditEntryHash, checkpointMessage } from './encoding.ts';

/** Entries read per query while walking: bounded memory whatever the length of the log. */
export const AUDIT_VERIFY_BATCH_SIZE = 2_000;

/** Why a link is broken, and what it means, for reports (the CLI and admin surfaces print the text). */
export const AUDIT_BREAK_REASONS = {
  entry_missing: 'this entry is missing (deleted)',
  prev_hash_mismatch: 'this entry does not link to the entry before it (entries moved, reordered or inserted)',
  hash_mismatch: 'this entry’s contents do not match its hash (altered)',
  time_reversed: 'this entry is dated before the entry before it (entries reordered)',
  start_unanchored:
    'the entries before this one were removed, and no signed checkpoint older than the retention period vouches for the cut',
  entries_missing_at_end: 'a signed checkpoint covers entries from this one on that are no longer there (removed)',
  checkpoint_unknown_key: 'the checkpoint at this entry is signed by a key that is not trusted (forged checkpoint)',
  checkpoint_bad_signature: 'the checkpoint at this entry has a signature that does not verify (forged or altered)',
  checkpoint_mismatch: 'the chain up to this entry differs from what its signed checkpoint vouched for (rewritten)',
} as const;
/** A machine-readable break reason (`hash_mismatch`, `entry_missing`, …). */
export type AuditBreakReason = keyof typeof AUDIT_BREAK_REASONS;

/** The first broken link found: the entry (or checkpoint) `seq` and why. */
export interface AuditBreak {
  seq: number;
  reason: AuditBreakReason;
  message: string;
}

/** An entry's position, hash and time: what the next entry must link to. */
export interface ChainLink {
  seq: number;
  hash: Buffer;
  /** Null when the link comes from a checkpoint (the entry itself is gone). */
  occurredAt: Date | null;
}

/** Builds an {@link AuditBreak} with the reason's text. */
export function chainBreak(seq: number, reason: AuditBreakReason, extra?: string): AuditBreak {
  return { seq, reason, message: `seq ${seq}: ${AUDIT_BREAK_REASONS[reason]}${extra ? ` (${extra})` : ''}` };
}

/**
 * Checks one checkpoint: a trusted key, a valid signature, and the head hash it signed.
 * @returns null when it holds, else the reason (named at the checkpoint's seq).
 */
export function checkCheckpoint(
  checkpoint: AuditCheckpointRow,
  keys: ReadonlyMap<string, KeyObject>,
  expectedHash: Uint8Array | null,
): AuditBreakReason | null {
  const key = keys.get(checkpoint.keyId);
  if (!key) return 'checkpoint_unknown_key';
  if (!verifySignature(null, checkpointMessage(checkpoint), key, checkpoint.signature)) {
    return 'checkpoint_bad_signature';
  }
  if (expectedHash !== null && !checkpoint.headHash.equals(expectedHash)) return 'checkpoint_mismatch';
  return null;
}

/** What {@link walkChain} walks and checks. */
export interface WalkOptions {
  /** The link before the first entry walked (genesis, a checkpoint, or an already verified entry). */
  after: ChainLink;
  /** Last seq to walk (inclusive). */
  toSeq: number;
  batchSize: number;
  /** Checkpoints inside the range are checked against the entries when keys are given. */
  keys?: ReadonlyMap<string, KeyObject> | undefined;
}

/** How far {@link walkChain} got, and the first broken link if any. */
export interface WalkResult {
  /** Entries whose links held. */
  checked: number;
  /** The last entry whose link held (or `after`). */
  last: ChainLink;
  checkpointsChecked: number;
  /** The newest checkpoint that held. */
  latestCheckpoint: AuditCheckpointRow | null;
  broken: AuditBreak | null;
}

/**
 * Walks entries (`after.seq`, `toSeq`] in order and stops at the first broken link: a missing seq, a wrong
 * `prev_hash`, time going backwards, contents not matching the hash, or a checkpoint that does not hold.
 */
export async function walkChain(db: Db, options: WalkOptions): Promise<WalkResult> {
  const { keys } = options;
  let last = options.after;
  let checked = 0;
  let checkpointsChecked = 0;
  let latestCheckpoint: AuditCheckpointRow | null = null;
  const done = (broken: AuditBreak | null): WalkResult => ({
    checked,
    last,
    checkpointsChecked,
    latestCheckpoint,
    broken,
  });

  while (last.seq < options.toSeq) {
    const rows: AuditLogRow[] = await db
      .select()
      .from(auditLog)
      .where(and(gt(auditLog.seq, last.seq), lte(auditLog.seq, options.toSeq)))
      .orderBy(asc(auditLog.seq))
      .limit(options.batchSize);
    if (rows.length === 0) return done(chainBreak(last.seq + 1, 'entry_missing'));
    const batchEnd = rows[rows.length - 1]?.seq ?? last.seq;
    const checkpoints = keys
      ? await db
          .select()
          .from(auditCheckpoints)
          .where(and(gt(auditCheckpoints.seq, last.seq), lte(auditCheckpoints.seq, batchEnd)))
          .orderBy(asc(auditCheckpoints.seq))
      : [];
    let nextCheckpoint = 0;

    for (const row of rows) {
      if (row.seq !== last.seq + 1) return done(chainBreak(last.seq + 1, 'entry_missing'));
      if (!row.prevHash.equals(last.hash)) return done(chainBreak(row.seq, 'prev_hash_mismatch'));
      if (last.occurredAt && row.occurredAt.getTime() < last.occurredAt.getTime()) {
        return done(chainBreak(row.seq, 'time_reversed'));
      }
      if (!auditEntryHash(row).equals(row.hash)) return done(chainBreak(row.seq, 'hash_mismatch'));
      for (let checkpoint = checkpoints[nextCheckpoint]; checkpoint && checkpoint.seq <= row.seq; ) {
        // Entries are gapless here, so a checkpoint's seq is always this row's.
        const reason = keys ? checkCheckpoint(checkpoint, keys, row.hash) : null;
        if (reason) {
          const since = latestCheckpoint ? `last valid checkpoint at seq ${latestCheckpoint.seq}` : undefined;
          return done(chainBreak(checkpoint.seq, reason, reason === 'checkpoint_mismatch' ? since : undefined));
        }
        checkpointsChecked++;
        latestCheckpoint = checkpoint;
        nextCheckpoint++;
        checkpoint = checkpoints[nextCheckpoint];
      }
      last = { seq: row.seq, hash: row.hash, occurredAt: row.occurredAt };
      checked++;
    }
  }
  return done(null);
}
