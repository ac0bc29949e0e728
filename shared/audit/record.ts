/**
 * Recording: the one function every security-relevant action goes through (sign-ins and their failures, MFA
 * and role changes, key creation, admin actions, data requests, security events), and the hook intrusion
 * detection and metrics listen on.
 */
import { randomUUID } from 'node:crypto';
import { desc, sql } from 'drizzle-orm';
import type { FieldContext, UserFieldCipher } from '../crypto/field-cipher.ts';
import type { Db } from '../db/index.ts';
import {
  AUDIT_ACTOR_TYPES,
  AUDIT_RESULTS,
  AUDIT_SOURCES,
  type AuditActorType,
  type AuditResult,
  type AuditSource,
  auditLog,
} from '../db/schema-audit.ts';
import type { Logger } from '../logger.ts';
import { type AuditChainFields, auditEntryHash, GENESIS_HASH } from './encoding.ts';
import { truncateIp } from './ip.ts';

/**
 * Transaction-level advisory lock every writer takes before reading the head: one append at a time across all
 * processes, so `seq` is gapless and each entry links to the one committed just before it.
 */
export const AUDIT_CHAIN_LOCK_KEY = 7_201_522_301;
/** Largest details object, as JSON (UTF-8 bytes): entries are records of actions, not document stores. */
export const AUDIT_DETAILS_MAX_BYTES = 4096;

/** `auth.login`, `mfa.totp_enabled`, `security.rate_limited`: dotted lower-case words. */
const ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$/;
/** Reason codes are UPPER_SNAKE like DomainError codes, so no free text (and no personal data) gets in. */
const REASON_CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;
const TARGET_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;
/** Opaque ids (API key ids, request ids, components, targets): no '@', spaces or quotes, so no email or name. */
const OPAQUE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Detail keys that name secrets or raw addresses, compared lower-case without separators. Details are sealed,
 * but a secret must not be stored at all, and the address belongs in `ip` (which is truncated).
 */
const FORBIDDEN_DETAIL_KEYS = new Set([
  'password',
  'passphrase',
  'secret',
  'clientsecret',
  'totpsecret',
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'bottoken',
  'secrettoken',
  'apikey',
  'key',
  'privatekey',
  'masterkey',
  'datakey',
  'initdata',
  'authorization',
  'cookie',
  'otp',
  'totp',
  'code',
  'totpcode',
  'backupcode',
  'backupcodes',
  'pin',
  'ip',
  'ipaddress',
  'remoteaddress',
  'xforwardedfor',
]);

/** Who acted. `system` ids name a component (`worker:retention`); `anonymous` is an unidentified caller. */
export type AuditActor =
  | { type: 'user'; id: string }
  | { type: 'api_key'; id: string }
  | { type: 'system'; id: string }
  | { type: 'anonymous' };

/** JSON values allowed in details. */
export type AuditDetailValue = string | number | boolean | null | readonly AuditDetailValue[] | AuditDetails;
/** Personal details of an entry: sealed with the subject's data key before they reach the database. */
export interface AuditDetails {
  readonly [key: string]: AuditDetailValue;
}

/** What a caller records. */
export interface AuditEvent {
  actor: AuditActor;
  action: string;
  target?: { type: string; id: string } | undefined;
  /** The person the entry is about (defaults to the acting user). Needed when there are details. */
  subjectUserId?: string | undefined;
  result: AuditResult;
  reasonCode?: string | undefined;
  requestId?: string | undefined;
  source: AuditSource;
  /** The client's address as received; only its /24 or /48 network is stored. */
  ip?: string | undefined;
  details?: AuditDetails | undefined;
}

/** A recorded entry without its details: what listeners receive and `record` returns. */
export interface AuditRecord {
  seq: number;
  id: string;
  occurredAt: Date;
  actor: { type: AuditActorType; id: string | null };
  action: string;
  target: { type: string; id: string } | null;
  subjectUserId: string | null;
  result: AuditResult;
  reasonCode: string | null;
  requestId: string | null;
  source: AuditSource;
  ipPrefix: string | null;
  /** True when sealed details were stored (their content is never passed around). */
  hasDetails: boolean;
  /** The entry's chain hash, hex. */
  hash: string;
}

/** Called after each entry commits. May be async; it is not awaited, and a failure never affects recording. */
export type AuditListener = (record: Readonly<AuditRecord>) => void | Promise<void>;

/** The audit trail of one process. */
export interface AuditLog {
  /**
   * Appends an entry to the chain and then tells the listeners.
   * @throws Error when the event is malformed (a bug in the caller: an action name, reason code or id of the
   *   wrong shape, a secret-like detail key) or the details cannot be sealed; nothing is recorded then.
   * @example
   * await audit.record({ actor: { type: 'user', id: user.id }, action: 'auth.login', result: 'success',
   *   source: 'api', requestId: request.id, ip: request.ip });
   */
  record(event: AuditEvent): Promise<AuditRecord>;
  /** Adds a listener (intrusion detection, metrics). Returns the function that removes it. */
  subscribe(listener: AuditListener): () => void;
}

/** What {@link createAuditLog} needs. */
export interface AuditLogDeps {
  db: Db;
  /** Seals details with the subject's data key; entries without details need none. */
  cipher?: UserFieldCipher | undefined;
  /** The clock (tests pass their own). */
  now?: () => Date;
  /** Where a failing listener is reported (by action and seq only). */
  logger?: Pick<Logger, 'warn'> | undefined;
}

/** The field-cipher binding of an entry's details: a sealed value copied to another row does not open. */
export function auditDetailsContext(entryId: string): FieldContext {
  return { table: 'audit_log', column: 'details', rowId: entryId };
}

/**
 * Opens an entry's sealed details (for a data-subject export or an investigation).
 * @returns the details, or null when the entry has none or the subject's key was shredded (erased for good).
 * @throws Error when the sealed value was altered or moved from another entry.
 */
export async function openAuditDetails(
  cipher: UserFieldCipher,
  entry: { id: string; subjectUserId: string | null; details: Uint8Array | null },
): Promise<AuditDetails | null> {
  if (entry.details === null || entry.subjectUserId === null) return null;
  const plaintext = await cipher.openForUser(entry.subjectUserId, entry.details, auditDetailsContext(entry.id));
  return plaintext === null ? null : (JSON.parse(plaintext.toString('utf8')) as AuditDetails);
}

function fail(message: string): never {
  throw new Error(`Audit event rejected: ${message}`);
}

function checkOpaqueId(label: string, value: string): string {
  if (!OPAQUE_ID_PATTERN.test(value))
    fail(`${label} must match ${OPAQUE_ID_PATTERN} (an opaque id, not personal data)`);
  return value;
}

function checkUuid(label: string, value: string): string {
  if (!UUID_PATTERN.test(value)) fail(`${label} must be a UUID`);
  // Lower case: PostgreSQL returns uuids lower-cased, and the chain hashes what it reads back.
  return value.toLowerCase();
}

function checkDetails(value: AuditDetailValue, path: string, depth: number): void {
  if (depth > 8) fail(`details nest deeper than 8 levels at ${path}`);
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      checkDetails(item, `${path}[${index}]`, depth + 1);
    });
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value as AuditDetails)) {
      if (FORBIDDEN_DETAIL_KEYS.has(key.toLowerCase().replace(/[^a-z0-9]/g, ''))) {
        // The key is named, never the value.
        fail(`details.${path ? `${path}.` : ''}${key} looks like a secret or a raw address; never record it`);
      }
      checkDetails(item, path ? `${path}.${key}` : key, depth + 1);
    }
    return;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) fail(`details.${path} is not a finite number`);
}

/** An event checked and normalised, before the chain fields (seq, time, sealed details, previous hash) exist. */
type Prepared = Omit<AuditChainFields, 'seq' | 'occurredAt' | 'details' | 'prevHash'> & { detailsJson: string | null };

function prepare(event: AuditEvent): Prepared {
  const { actor } = event;
  if (!(AUDIT_ACTOR_TYPES as readonly string[]).includes(actor.type)) fail('unknown actor type');
  const actorId =
    actor.type === 'anonymous'
      ? null
      : actor.type === 'user'
        ? checkUuid('actor.id', actor.id)
        : checkOpaqueId('actor.id', actor.id);
  if (!ACTION_PATTERN.test(event.action) || event.action.length > 64) {
    fail(
      `action must be dotted lower-case words such as auth.login (got ${JSON.stringify(event.action.slice(0, 64))})`,
    );
  }
  if (!(AUDIT_RESULTS as readonly string[]).includes(event.result)) fail(`result must be one of ${AUDIT_RESULTS}`);
  if (!(AUDIT_SOURCES as readonly string[]).includes(event.source)) fail(`source must be one of ${AUDIT_SOURCES}`);
  if (event.reasonCode !== undefined && !REASON_CODE_PATTERN.test(event.reasonCode)) {
    fail('reasonCode must be an UPPER_SNAKE code');
  }
  if (event.target && !TARGET_TYPE_PATTERN.test(event.target.type)) fail('target.type must be a lower-case word');
  const subject =
    event.subjectUserId !== undefined
      ? checkUuid('subjectUserId', event.subjectUserId)
      : actor.type === 'user'
        ? actorId
        : null;
  let detailsJson: string | null = null;
  if (event.details !== undefined) {
    if (subject === null) fail('details need a subjectUserId: they are sealed with that person’s data key');
    checkDetails(event.details, '', 0);
    detailsJson = JSON.stringify(event.details);
    if (Buffer.byteLength(detailsJson) > AUDIT_DETAILS_MAX_BYTES) {
      fail(`details exceed ${AUDIT_DETAILS_MAX_BYTES} bytes of JSON`);
    }
  }
  return {
    id: randomUUID(),
    actorType: actor.type,
    actorId,
    action: event.action,
    targetType: event.target ? event.target.type : null,
    targetId: event.target ? checkOpaqueId('target.id', event.target.id) : null,
    subjectUserId: subject,
    result: event.result,
    reasonCode: event.reasonCode ?? null,
    requestId: event.requestId !== undefined ? checkOpaqueId('requestId', event.requestId) : null,
    source: event.source,
    // Truncated here, before anything else sees the address; an unparseable one is not stored at all.
    ipPrefix: truncateIp(event.ip),
    detailsJson,
  };
}

/** The public view of a stored entry (no details). */
export function toAuditRecord(fields: AuditChainFields, hash: Uint8Array): AuditRecord {
  return {
    seq: fields.seq,
    id: fields.id,
    occurredAt: fields.occurredAt,
    actor: { type: fields.actorType, id: fields.actorId },
    action: fields.action,
    target:
      fields.targetType !== null && fields.targetId !== null ? { type: fields.targetType, id: fields.targetId } : null,
    subjectUserId: fields.subjectUserId,
    result: fields.result,
    reasonCode: fields.reasonCode,
    requestId: fields.requestId,
    source: fields.source,
    ipPrefix: fields.ipPrefix,
    hasDetails: fields.details !== null,
    hash: Buffer.from(hash).toString('hex'),
  };
}

/**
 * Creates the audit trail over `db`. Appends are serialised by a transaction-level advisory lock, so any number
 * of processes (and concurrent calls in one) produce one gapless chain.
 * @example
 * const audit = createAuditLog({ db, cipher, logger });
 * audit.subscribe((entry) => { if (entry.result === 'failure') detector.observe(entry); });
 */
export function createAuditLog(deps: AuditLogDeps): AuditLog {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const listeners = new Set<AuditListener>();

  /** Each listener gets its own frozen copy: none can change what the others or the caller see. */
  const snapshot = (record: AuditRecord): Readonly<AuditRecord> =>
    Object.freeze({
      ...record,
      occurredAt: new Date(record.occurredAt),
      actor: Object.freeze({ ...record.actor }),
      target: record.target ? Object.freeze({ ...record.target }) : null,
    });

  const notify = (record: AuditRecord) => {
    for (const listener of listeners) {
      const report = (error: unknown) =>
        deps.logger?.warn(
          { action: record.action, seq: record.seq, err: error instanceof Error ? error.message : String(error) },
          'Audit listener failed',
        );
      // A listener that throws or rejects is reported and skipped: recording already succeeded.
      try {
        const result = listener(snapshot(record));
        if (result && typeof result.then === 'function') result.then(undefined, report);
      } catch (error) {
        report(error);
      }
    }
  };

  return {
    async record(event) {
      const prepared = prepare(event);
      let sealed: Buffer | null = null;
      if (prepared.detailsJson !== null && prepared.subjectUserId !== null) {
        if (!deps.cipher) throw new Error('Audit details need a cipher: pass a UserFieldCipher to createAuditLog');
        // Sealed before taking the chain lock: key-store round trips must not hold up every other writer.
        sealed = await deps.cipher.sealForUser(
          prepared.subjectUserId,
          prepared.detailsJson,
          auditDetailsContext(prepared.id),
        );
      }
      const { detailsJson: _omitted, ...columns } = prepared;
      const stored = await db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_KEY})`);
        const [head] = await tx
          .select({ seq: auditLog.seq, hash: auditLog.hash, occurredAt: auditLog.occurredAt })
          .from(auditLog)
          .orderBy(desc(auditLog.seq))
          .limit(1);
        const clock = now();
        const fields: AuditChainFields = {
          ...columns,
          seq: (head?.seq ?? 0) + 1,
          // Never earlier than the previous entry: time order follows chain order even across skewed clocks.
          occurredAt: head && head.occurredAt.getTime() > clock.getTime() ? head.occurredAt : clock,
          details: sealed,
          prevHash: head?.hash ?? GENESIS_HASH,
        };
        const hash = auditEntryHash(fields);
        await tx.insert(auditLog).values({
          ...columns,
          seq: fields.seq,
          occurredAt: fields.occurredAt,
          details: sealed,
          prevHash: Buffer.from(fields.prevHash),
          hash,
        });
        return { fields, hash };
      });
      const record = toAuditRecord(stored.fields, stored.hash);
      notify(record);
      return record;
    },

    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}
