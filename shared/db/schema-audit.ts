/**
 * The tamper-evident audit trail: an append-only, hash-chained log of security-relevant actions, and signed
 * checkpoints of its head. A database trigger (migration `audit_append_only`) rejects UPDATE, DELETE and
 * TRUNCATE on both tables and any INSERT that does not extend the chain at its head; the chain encoding and
 * verification live in `shared/audit/`.
 */
import { sql } from 'drizzle-orm';
import { bigint, check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './types.ts';

/** Who acted: a signed-in person, an API key, a part of the system, or nobody known (a failed sign-in). */
export const AUDIT_ACTOR_TYPES = ['user', 'api_key', 'system', 'anonymous'] as const;
export type AuditActorType = (typeof AUDIT_ACTOR_TYPES)[number];
/** How the action ended: done, refused for a bad input or credential, refused by policy, or crashed. */
export const AUDIT_RESULTS = ['success', 'failure', 'denied', 'error'] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];
/** The face the action came through. */
export const AUDIT_SOURCES = ['bot', 'api', 'worker', 'cli'] as const;
export type AuditSource = (typeof AUDIT_SOURCES)[number];

/**
 * One security-relevant action. `seq` orders the chain (gapless, assigned under a lock); `hash` is SHA-256 over
 * the canonical encoding of every other column, `prev_hash` included, so altering, removing or reordering a row
 * breaks the chain from there on.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    /** Position in the chain, from 1, without gaps. */
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    /** Random id; also binds the sealed details to this row (field-cipher context). */
    id: uuid('id').notNull().unique(),
    /** Millisecond precision: the chain hashes the ISO-8601 string, which must survive the round trip. */
    occurredAt: timestamp('occurred_at', { withTimezone: true, precision: 3 }).notNull(),
    actorType: text('actor_type', { enum: AUDIT_ACTOR_TYPES }).notNull(),
    /** User id, API key id or system component; null for anonymous actors. */
    actorId: text('actor_id'),
    /** Dotted lower-case name, e.g. `auth.login`, `mfa.totp_enabled`, `security.rate_limited`. */
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    /** The person the entry is about (export and erasure); no foreign key: the trail outlives accounts. */
    subjectUserId: uuid('subject_user_id'),
    result: text('result', { enum: AUDIT_RESULTS }).notNull(),
    /** UPPER_SNAKE code saying why (e.g. `INVALID_CODE`), never free text. */
    reasonCode: text('reason_code'),
    requestId: text('request_id'),
    source: text('source', { enum: AUDIT_SOURCES }).notNull(),
    /** The client's network, never its address: IPv4 truncated to /24, IPv6 to /48. */
    ipPrefix: text('ip_prefix'),
    /** Personal details sealed with the subject's data key (crypto-shredded on erasure, never rewritten). */
    details: bytea('details'),
    prevHash: bytea('prev_hash').notNull(),
    hash: bytea('hash').notNull(),
  },
  (table) => [
    check('audit_log_seq_check', sql`${table.seq} > 0`),
    check('audit_log_actor_type_check', sql`${table.actorType} in ('user', 'api_key', 'system', 'anonymous')`),
    check('audit_log_result_check', sql`${table.result} in ('success', 'failure', 'denied', 'error')`),
    check('audit_log_source_check', sql`${table.source} in ('bot', 'api', 'worker', 'cli')`),
    // Defence in depth for "the IP is truncated": only a /24 or /48 network can be stored.
    check(
      'audit_log_ip_prefix_check',
      sql`${table.ipPrefix} is null or ${table.ipPrefix} ~ '^([0-9]{1,3}\\.){3}0/24$' or ${table.ipPrefix} ~ '^[0-9a-f:]{2,39}/48$'`,
    ),
    check('audit_log_details_size_check', sql`${table.details} is null or octet_length(${table.details}) <= 8192`),
    check(
      'audit_log_hash_length_check',
      sql`octet_length(${table.hash}) = 32 and octet_length(${table.prevHash}) = 32`,
    ),
    // A data-subject export reads a person's entries in order.
    index('audit_log_subject_idx').on(table.subjectUserId, table.seq),
  ],
);
/** A stored audit entry. */
export type AuditLogRow = typeof auditLog.$inferSelect;
/** An audit entry to insert (only `shared/audit/record.ts` inserts). */
export type NewAuditLogRow = typeof auditLog.$inferInsert;

/** A signed statement "the chain's head at `seq` had hash `head_hash`" (like a CloudTrail digest file). */
export const auditCheckpoints = pgTable(
  'audit_checkpoints',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    headHash: bytea('head_hash').notNull(),
    /** RFC 7638 thumbprint of the Ed25519 public key that signed. */
    keyId: text('key_id').notNull(),
    /** Ed25519 over the canonical encoding of seq, head hash, creation time and key id. */
    signature: bytea('signature').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
  },
  (table) => [
    check('audit_checkpoints_seq_check', sql`${table.seq} > 0`),
    check(
      'audit_checkpoints_lengths_check',
      sql`octet_length(${table.headHash}) = 32 and octet_length(${table.signature}) = 64`,
    ),
  ],
);
/** A stored checkpoint. */
export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;
