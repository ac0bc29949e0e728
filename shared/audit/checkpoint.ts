/**
 * Checkpoints: the chain's head hash signed with the deployment's Ed25519 key, made periodically by the worker
 * role. Anyone able to write the database can recompute a hash chain; nobody without the master key can sign,
 * so a rewritten chain no longer matches its checkpoints.
 */
import { sign } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { type AuditCheckpointRow, auditCheckpoints, auditLog } from '../db/schema-audit.ts';
import {
  AUDIT_VERIFY_BATCH_SIZE,
  type AuditBreak,
  type ChainLink,
  chainBreak,
  checkCheckpoint,
  walkChain,
} from './chain.ts';
import { auditEntryHash, checkpointMessage, GENESIS_HASH } from './encoding.ts';
import type { AuditSigningKey } from './signing-key.ts';

/** How often the worker role signs the head (CloudTrail delivers digest files hourly; we do it more often). */
export const AUDIT_CHECKPOINT_INTERVAL_MS = 5 * 60 * 1000;

/** The signing key and, for tests, the clock. */
export interface CreateAuditCheckpointOptions {
  signingKey: AuditSigningKey;
  now?: () => Date;
  batchSize?: number;
}

/** The outcome of {@link createAuditCheckpoint}. */
export interface AuditCheckpointResult {
  /** True when a new checkpoint was stored; false when the head has not moved (or another process won). */
  created: boolean;
  /** The newest checkpoint after this call, or null when the log is empty. */
  checkpoint: AuditCheckpointRow | null;
  /** Set when the entries since the previous checkpoint do not verify: nothing is signed then. */
  firstBroken?: AuditBreak;
}

/**
 * Signs the current head of the chain, after verifying the entries added since the previous checkpoint (a
 * checkpoint must never vouch for a chain that was already tampered with). Idempotent: with no new entries,
 * or when another process checkpointed the same head, nothing is stored.
 * @example await createAuditCheckpoint(db, { signingKey: deriveAuditSigningKey(secrets.masterKey) });
 */
export async function createAuditCheckpoint(
  db: Db,
  options: CreateAuditCheckpointOptions,
): Promise<AuditCheckpointResult> {
  const { signingKey } = options;
  const now = options.now ?? (() => new Date());
  const [previous] = await db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.seq)).limit(1);
  const [head] = await db
    .select({ seq: auditLog.seq, hash: auditLog.hash })
    .from(auditLog)
    .orderBy(desc(auditLog.seq))
    .limit(1);
  const checkpoint = previous ?? null;
  if (!head) {
    return checkpoint
      ? { created: false, checkpoint, firstBroken: chainBreak(1, 'entries_missing_at_end') }
      : { created: false, checkpoint: null };
  }
  if (checkpoint && checkpoint.seq >= head.seq) {
    return checkpoint.seq === head.seq
      ? { created: false, checkpoint }
      : { created: false, checkpoint, firstBroken: chainBreak(head.seq + 1, 'entries_missing_at_end') };
  }

  let after: ChainLink = { seq: 0, hash: GENESIS_HASH, occurredAt: null };
  if (checkpoint) {
    const [entry] = await db.select().from(auditLog).where(eq(auditLog.seq, checkpoint.seq));
    if (!entry) return { created: false, checkpoint, firstBroken: chainBreak(checkpoint.seq, 'entry_missing') };
    if (!auditEntryHash(entry).equals(entry.hash)) {
      return { created: false, checkpoint, firstBroken: chainBreak(entry.seq, 'hash_mismatch') };
    }
    // Our own earlier signature is checked; one by a previous key (master key rotated) is left to full
    // verification, which knows every trusted key.
    const keys = new Map([[signingKey.keyId, signingKey.publicKey]]);
    const reason =
      checkpoint.keyId === signingKey.keyId
        ? checkCheckpoint(checkpoint, keys, entry.hash)
        : checkpoint.headHash.equals(entry.hash)
          ? null
          : 'checkpoint_mismatch';
    if (reason) return { created: false, checkpoint, firstBroken: chainBreak(checkpoint.seq, reason) };
    after = { seq: entry.seq, hash: entry.hash, occurredAt: entry.occurredAt };
  } else {
    const [first] = await db.select({ seq: auditLog.seq }).from(auditLog).orderBy(auditLog.seq).limit(1);
    if (first && first.seq !== 1) {
      return { created: false, checkpoint: null, firstBroken: chainBreak(first.seq, 'start_unanchored') };
    }
  }

  const walk = await walkChain(db, {
    after,
    toSeq: head.seq,
    batchSize: options.batchSize ?? AUDIT_VERIFY_BATCH_SIZE,
  });
  if (walk.broken) return { created: false, checkpoint, firstBroken: walk.broken };

  const fields = { seq: head.seq, headHash: head.hash, createdAt: now(), keyId: signingKey.keyId };
  const signature = sign(null, checkpointMessage(fields), signingKey.privateKey);
  const [stored] = await db
    .insert(auditCheckpoints)
    .values({ ...fields, signature })
    // Two workers checkpointing the same head: the first one stands, the second stores nothing.
    .onConflictDoNothing({ target: auditCheckpoints.seq })
    .returning();
  if (stored) return { created: true, checkpoint: stored };
  const [winner] = await db.select().from(auditCheckpoints).where(eq(auditCheckpoints.seq, head.seq));
  return { created: false, checkpoint: winner ?? null };
}
