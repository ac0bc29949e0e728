/**
 * The tamper-evident audit trail: one function records every security-relevant action into an append-only,
 * hash-chained log; checkpoints sign its head; verification walks the chain and the checkpoints and names the
 * first broken link. Listeners (intrusion detection, metrics) subscribe to entries without their details.
 */
export { AUDIT_BREAK_REASONS, AUDIT_VERIFY_BATCH_SIZE, type AuditBreak, type AuditBreakReason } from './chain.ts';
export {
  AUDIT_CHECKPOINT_INTERVAL_MS,
  type AuditCheckpointResult,
  type CreateAuditCheckpointOptions,
  createAuditCheckpoint,
} from './checkpoint.ts';
export {
  type AuditChainFields,
  type AuditCheckpointFields,
  auditEntryHash,
  canonicalTime,
  checkpointMessage,
  GENESIS_HASH,
} from './encoding.ts';
export { IPV4_PREFIX_BITS, IPV6_PREFIX_BITS, truncateIp } from './ip.ts';
export {
  AUDIT_CHAIN_LOCK_KEY,
  AUDIT_DETAILS_MAX_BYTES,
  type AuditActor,
  type AuditDetails,
  type AuditDetailValue,
  type AuditEvent,
  type AuditListener,
  type AuditLog,
  type AuditLogDeps,
  type AuditRecord,
  auditDetailsContext,
  createAuditLog,
  openAuditDetails,
  toAuditRecord,
} from './record.ts';
export { AUDIT_RETENTION_DAYS, type PruneAuditLogResult, pruneAuditLog } from './retention.ts';
export {
  AUDIT_SIGNING_KEY_INFO,
  type AuditSigningKey,
  deriveAuditSigningKey,
  ed25519FromSeed,
  ed25519KeyId,
} from './signing-key.ts';
export { type AuditVerification, type VerifyAuditLogOptions, verifyAuditLog } from './verify.ts';
