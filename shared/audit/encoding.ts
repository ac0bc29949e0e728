/**
 * The canonical encoding of audit entries and checkpoints. Each value is written as a presence byte
 * (0 = null, 1 = present), then a 4-byte big-endian length and the bytes (UTF-8 for text), in a fixed field
 * order after a versioned domain tag: no two different entries encode alike ("ab"+"c" differs from "a"+"bc",
 * null differs from ""), and an entry hash can never be mistaken for a checkpoint message.
 */
import { createHash } from 'node:crypto';
import type { AuditActorType, AuditResult, AuditSource } from '../db/schema-audit.ts';

/** SHA-256 output size. */
export const AUDIT_HASH_BYTES = 32;
/** `prev_hash` of the first entry (seq 1). */
export const GENESIS_HASH: Buffer = Buffer.alloc(AUDIT_HASH_BYTES);
/** Domain tags: bump the version if the field list or encoding ever changes. */
const ENTRY_TAG = 'tsp:audit-entry:v1';
const CHECKPOINT_TAG = 'tsp:audit-checkpoint:v1';

/** Every column of an audit row that the chain covers (all of them but `hash`), as stored. */
export interface AuditChainFields {
  seq: number;
  id: string;
  occurredAt: Date;
  actorType: AuditActorType;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  subjectUserId: string | null;
  result: AuditResult;
  reasonCode: string | null;
  requestId: string | null;
  source: AuditSource;
  ipPrefix: string | null;
  details: Uint8Array | null;
  prevHash: Uint8Array;
}

type Field = string | Uint8Array | null;

const ABSENT = Buffer.from([0]);

/** Writes the length-prefixed fields into a running hash (no concatenation: one pass over the bytes). */
function update(hash: ReturnType<typeof createHash>, fields: readonly Field[]): void {
  for (const field of fields) {
    if (field === null) {
      hash.update(ABSENT);
      continue;
    }
    const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : field;
    const header = Buffer.allocUnsafe(5);
    header[0] = 1;
    header.writeUInt32BE(bytes.length, 1);
    hash.update(header);
    hash.update(bytes);
  }
}

/** The same encoding as bytes (for signatures, which need the message itself). */
function encode(fields: readonly Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    if (field === null) {
      parts.push(ABSENT);
      continue;
    }
    const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : Buffer.from(field);
    const header = Buffer.allocUnsafe(5);
    header[0] = 1;
    header.writeUInt32BE(bytes.length, 1);
    parts.push(header, bytes);
  }
  return Buffer.concat(parts);
}

/**
 * Time as hashed: ISO-8601 UTC with exactly three fractional digits (the column is `timestamptz(3)`).
 * @throws Error for an invalid date.
 */
export function canonicalTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new Error('Invalid audit time');
  return date.toISOString();
}

/**
 * SHA-256 over the canonical encoding of an entry, `prev_hash` included: the link of the chain.
 * @example auditEntryHash({ seq: 1, prevHash: GENESIS_HASH, ... }) // 32 bytes
 */
export function auditEntryHash(entry: AuditChainFields): Buffer {
  const hash = createHash('sha256');
  update(hash, [
    ENTRY_TAG,
    String(entry.seq),
    entry.id,
    canonicalTime(entry.occurredAt),
    entry.actorType,
    entry.actorId,
    entry.action,
    entry.targetType,
    entry.targetId,
    entry.subjectUserId,
    entry.result,
    entry.reasonCode,
    entry.requestId,
    entry.source,
    entry.ipPrefix,
    entry.details,
    entry.prevHash,
  ]);
  return hash.digest();
}

/** What a checkpoint signs. */
export interface AuditCheckpointFields {
  seq: number;
  headHash: Uint8Array;
  createdAt: Date;
  keyId: string;
}

/** The exact bytes an audit checkpoint's Ed25519 signature covers. */
export function checkpointMessage(checkpoint: AuditCheckpointFields): Buffer {
  return encode([
    CHECKPOINT_TAG,
    String(checkpoint.seq),
    checkpoint.headHash,
    canonicalTime(checkpoint.createdAt),
    checkpoint.keyId,
  ]);
}
