/**
 * API keys: create (shown once), list (never the key or its hash), rotate (the old key keeps working for a
 * grace period), revoke, and authenticate a presented key: checksum first (no I/O), then the hash lookup,
 * revocation, expiry and owner checks, the key's own rate limit in Redis, and last-use bookkeeping.
 * A key's effective permissions are its scopes ∩ its owner's *current* role, so demoting a person shrinks
 * their keys at once.
 */
import { and, count, desc, eq, gt, isNull } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { truncateIp } from '../audit/ip.ts';
import type { AuditActor, AuditLog } from '../audit/record.ts';
import { hashToken, verifyTokenHash } from '../crypto/hash.ts';
import type { Db } from '../db/index.ts';
import { type UserRole, users } from '../db/schema.ts';
import { type ApiKeyRow, apiKeys } from '../db/schema-api-keys.ts';
import type { AuditSource } from '../db/schema-audit.ts';
import type { ApiKeyAuthenticator, ApiKeyAuthResult } from '../identity/principal.ts';
import { isPermission, PERMISSIONS, type Permission, permissionsOf } from '../identity/rbac.ts';
import type { Logger } from '../logger.ts';
import { apiKeyError } from './errors.ts';
import { apiKeyDisplayPrefix, generateApiKey, looksLikeApiKey, parseApiKey } from './format.ts';

/** Lifetime of a new key unless its owner chooses another (the default). */
export const API_KEY_DEFAULT_EXPIRY_DAYS = 90;
/** Longest lifetime a key may have: every key expires, so a forgotten one cannot work for ever. */
export const API_KEY_MAX_EXPIRY_DAYS = 365;
/** Requests per minute a new key may make unless its owner chooses another. */
export const API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE = 600;
/** Highest per-key limit an owner may choose (requests per minute). */
export const API_KEY_MAX_RATE_LIMIT_PER_MINUTE = 6_000;
/** Length of the fixed rate-limit window, in seconds (limits are stated per minute). */
export const API_KEY_RATE_WINDOW_SECONDS = 60;
/** How long a rotated key keeps working, so clients can switch to the new one without downtime. */
export const API_KEY_ROTATION_GRACE_SECONDS = 24 * 3600;
/** Last use (time and network) is written at most this often per key unless the network changes. */
export const API_KEY_LAST_USED_WRITE_INTERVAL_SECONDS = 60;
/** Active (unrevoked, unexpired) keys one person may hold. */
export const MAX_API_KEYS_PER_USER = 25;
/** Longest key name, in characters. */
export const API_KEY_NAME_MAX_LENGTH = 64;
/** Expired keys stay in their owner's list this many days (so they see what stopped working), then drop out. */
export const API_KEY_LIST_EXPIRED_DAYS = 30;

const DAY_MS = 24 * 3600 * 1000;
/** Control characters (line breaks included) would let a name forge lines in the bot's and the API's output. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Where a key stands: usable, usable until its rotation grace ends, expired, or revoked. */
export type ApiKeyStatus = 'active' | 'rotating' | 'expired' | 'revoked';

/** What the owner sees of a key: never the key, never its hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  /** First 8 and last 4 characters, e.g. `tsp_AbC1…x9Zq`. */
  displayPrefix: string;
  /** The scopes the key was granted. */
  scopes: Permission[];
  /** What it may do now: its scopes ∩ the owner's current role. */
  effectiveScopes: Permission[];
  rateLimitPerMinute: number;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  /** The network of the last use (IPv4 /24, IPv6 /48). */
  lastUsedIp: string | null;
  revokedAt: Date | null;
  /** The key that replaced this one, when it was rotated. */
  replacedById: string | null;
  status: ApiKeyStatus;
}

/** A new key: `key` is the only time the secret is ever available; show it to the owner and drop it. */
export interface CreatedApiKey {
  key: string;
  apiKey: ApiKeyView;
}

/** The result of a rotation: the new key (shown once) and the old one, now working until its grace ends. */
export interface RotatedApiKey extends CreatedApiKey {
  previous: ApiKeyView;
}

/** Job asking the worker role to tell the owner in Telegram (ids only, never the key or its name). */
export type ApiKeyNotification =
  | { kind: 'api-key-created'; userId: string; keyId: string }
  | { kind: 'api-key-rotated'; userId: string; keyId: string }
  | { kind: 'api-key-revoked'; userId: string; keyId: string };

/** Who performs a management action and through which face (for the audit trail). */
export interface ApiKeyActionContext {
  /** The owner in a session (default), or one of their API keys (which may revoke, never create or rotate). */
  actor?: { type: 'user' } | { type: 'api_key'; keyId: string };
  source: AuditSource;
  requestId?: string | undefined;
  /** The client's address as received (the audit trail keeps only its network). */
  ip?: string | undefined;
}

/** Input of {@link ApiKeyService.create}. */
export interface CreateApiKeyInput extends ApiKeyActionContext {
  userId: string;
  name: string;
  /** Permissions to grant (default: every non-admin permission of the owner's role). */
  scopes?: readonly string[] | undefined;
  /** 1 to {@link API_KEY_MAX_EXPIRY_DAYS} (default {@link API_KEY_DEFAULT_EXPIRY_DAYS}). */
  expiresInDays?: number | undefined;
  /** 1 to {@link API_KEY_MAX_RATE_LIMIT_PER_MINUTE} (default {@link API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE}). */
  rateLimitPerMinute?: number | undefined;
}

/** Input of {@link ApiKeyService.rotate} and {@link ApiKeyService.revoke}: the owner and one of their keys. */
export interface ApiKeyTargetInput extends ApiKeyActionContext {
  userId: string;
  keyId: string;
}

/** What {@link createApiKeyService} needs. */
export interface ApiKeyServiceDeps {
  db: Db;
  /** The main Redis client (rate-limit counters). */
  redis: Redis;
  /** The deployment's Redis key prefix. */
  prefix: string;
  audit: Pick<AuditLog, 'record'>;
  /** Queues a Telegram message to the owner (the worker role sends it). */
  notify: (job: ApiKeyNotification) => Promise<void>;
  /** The clock (tests pass their own). */
  now?: () => Date;
  /** How long a rotated key keeps working (default {@link API_KEY_ROTATION_GRACE_SECONDS}). */
  rotationGraceSeconds?: number;
  /** Where a failed notification is reported (ids only). */
  logger?: Pick<Logger, 'warn'> | undefined;
}

/** API keys of every person: management for the owner, and the authenticator the API's auth plugin calls. */
export interface ApiKeyService extends ApiKeyAuthenticator {
  /**
   * Creates a key for `userId`.
   * @returns the key (its only appearance) and its view.
   * @throws DomainError API_KEY_CANNOT_MANAGE_KEYS (an API key acting), API_KEY_OWNER_INACTIVE,
   *   API_KEY_NAME_INVALID, API_KEY_SCOPES_EMPTY, API_KEY_SCOPE_UNKNOWN, API_KEY_SCOPE_NOT_ALLOWED (a scope
   *   the owner's role lacks), API_KEY_EXPIRY_INVALID, API_KEY_RATE_LIMIT_INVALID, API_KEY_LIMIT_REACHED.
   * @example
   * const { key } = await apiKeys.create({ userId, name: 'CI', scopes: ['profile:read'], source: 'api' });
   */
  create(input: CreateApiKeyInput): Promise<CreatedApiKey>;
  /** The owner's unrevoked keys (expired ones for {@link API_KEY_LIST_EXPIRED_DAYS} days), newest first. */
  list(userId: string): Promise<ApiKeyView[]>;
  /** One of the owner's unrevoked keys, or null (also for someone else's key: ids are not confirmed). */
  get(userId: string, keyId: string): Promise<ApiKeyView | null>;
  /**
   * Replaces a key with a new one of the same name, scopes (narrowed to the owner's current role), rate limit
   * and lifetime; the old key keeps working for the grace period, then stops.
   * @throws DomainError API_KEY_CANNOT_MANAGE_KEYS, API_KEY_NOT_FOUND (also for someone else's key),
   *   API_KEY_NOT_ACTIVE (expired or already rotated), API_KEY_OWNER_INACTIVE, API_KEY_SCOPE_NOT_ALLOWED.
   */
  rotate(input: ApiKeyTargetInput): Promise<RotatedApiKey>;
  /**
   * Revokes a key at once.
   * @throws DomainError API_KEY_NOT_FOUND (unknown, already revoked, or someone else's).
   */
  revoke(input: ApiKeyTargetInput): Promise<ApiKeyView>;
}

/** Permissions in the product's canonical order, without duplicates or unknown names. */
function canonical(scopes: Iterable<string>): Permission[] {
  const wanted = new Set(scopes);
  return PERMISSIONS.filter((permission) => wanted.has(permission));
}

/** What a key may do for an owner of `role`: its scopes ∩ the role's permissions. */
export function effectiveScopes(scopes: readonly string[], role: UserRole): Permission[] {
  const allowed = new Set<string>(permissionsOf(role));
  return canonical(scopes.filter((scope) => allowed.has(scope)));
}

/** The scopes a key gets by default: everything the role grants except administration. */
export function defaultScopes(role: UserRole): Permission[] {
  return permissionsOf(role).filter((permission) => !permission.startsWith('admin:'));
}

function statusOf(row: ApiKeyRow, nowMs: number): ApiKeyStatus {
  if (row.revokedAt) return 'revoked';
  if (row.expiresAt.getTime() <= nowMs) return 'expired';
  return row.replacedById ? 'rotating' : 'active';
}

function toView(row: ApiKeyRow, role: UserRole, nowMs: number): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    displayPrefix: row.displayPrefix,
    scopes: canonical(row.scopes),
    effectiveScopes: effectiveScopes(row.scopes, role),
    rateLimitPerMinute: row.rateLimitPerMinute,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    lastUsedAt: row.lastUsedAt,
    lastUsedIp: row.lastUsedIp,
    revokedAt: row.revokedAt,
    replacedById: row.replacedById,
    status: statusOf(row, nowMs),
  };
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > API_KEY_NAME_MAX_LENGTH || CONTROL_CHARACTERS.test(trimmed)) {
    throw apiKeyError('API_KEY_NAME_INVALID');
  }
  return trimmed;
}

function checkScopes(requested: readonly string[], role: UserRole): Permission[] {
  if (requested.length === 0) throw apiKeyError('API_KEY_SCOPES_EMPTY');
  for (const scope of requested) {
    if (!isPermission(scope)) throw apiKeyError('API_KEY_SCOPE_UNKNOWN');
    // A key never carries more than its owner may do (least privilege); the scope is named, it is not secret.
    if (!permissionsOf(role).includes(scope)) throw apiKeyError('API_KEY_SCOPE_NOT_ALLOWED', { scope });
  }
  return canonical(requested);
}

function checkInteger(
  value: number | undefined,
  fallback: number,
  max: number,
  code: Parameters<typeof apiKeyError>[0],
) {
  const chosen = value ?? fallback;
  if (!Number.isInteger(chosen) || chosen < 1 || chosen > max) throw apiKeyError(code);
  return chosen;
}

/** An UUID check before querying: a malformed id is simply "not found", never a database error. */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Creates the API-key service over the database, Redis, the audit trail and the notification queue.
 * @example
 * const apiKeys = createApiKeyService({ db, redis: redis.client, prefix: config.redisPrefix, audit,
 *   notify: (job) => queues.notify.add(job.kind, job).then(() => {}) });
 */
export function createApiKeyService(deps: ApiKeyServiceDeps): ApiKeyService {
  const { db, redis } = deps;
  const now = deps.now ?? (() => new Date());
  const graceMs = (deps.rotationGraceSeconds ?? API_KEY_ROTATION_GRACE_SECONDS) * 1000;
  const windowMs = API_KEY_RATE_WINDOW_SECONDS * 1000;

  const auditActor = (userId: string, context: ApiKeyActionContext): AuditActor =>
    context.actor?.type === 'api_key' ? { type: 'api_key', id: context.actor.keyId } : { type: 'user', id: userId };

  const record = (action: string, userId: string, keyId: string, context: ApiKeyActionContext) =>
    deps.audit.record({
      actor: auditActor(userId, context),
      action,
      target: { type: 'api_key', id: keyId },
      subjectUserId: userId,
      result: 'success',
      source: context.source,
      requestId: context.requestId,
      ip: context.ip,
    });

  const tell = async (job: ApiKeyNotification) => {
    try {
      await deps.notify(job);
    } catch (error) {
      // The key change stands (and is audited); a lost message must not undo it or hide the new key.
      deps.logger?.warn(
        { kind: job.kind, keyId: job.keyId, err: error instanceof Error ? error.message : String(error) },
        'API key notification could not be queued',
      );
    }
  };

  const refuseKeyActors = (context: ApiKeyActionContext) => {
    // A leaked key must not be able to mint or renew keys for itself: only a signed-in person can.
    if (context.actor?.type === 'api_key') throw apiKeyError('API_KEY_CANNOT_MANAGE_KEYS');
  };

  const activeOwner = async (tx: Db, userId: string) => {
    const [owner] = await tx
      .select({ role: users.role, status: users.status })
      .from(users)
      .where(eq(users.id, userId))
      .for('update') // serialises key creation per person, so the key limit holds under concurrency
      .limit(1);
    if (owner?.status !== 'active') throw apiKeyError('API_KEY_OWNER_INACTIVE');
    return owner;
  };

  const roleOf = async (userId: string): Promise<UserRole | null> => {
    const [owner] = await db.select({ role: users.role }).from(users).where(eq(users.id, userId)).limit(1);
    return owner?.role ?? null;
  };

  /** Counts the request against the key's window; returns the seconds to wait when over the limit. */
  const overLimitBy = async (keyId: string, limit: number): Promise<number | null> => {
    const nowMs = now().getTime();
    const window = Math.floor(nowMs / windowMs);
    const windowEndMs = (window + 1) * windowMs;
    const counter = `${deps.prefix}:api-key-rate:${keyId}:${window}`;
    // Fixed window in one atomic round trip: create the counter with its expiry once, then count.
    const replies = await redis
      .multi()
      .set(counter, '0', 'PX', windowEndMs - nowMs + 1_000, 'NX')
      .incr(counter)
      .exec();
    const counted = replies?.[1];
    if (!counted || counted[0]) throw counted?.[0] ?? new Error('Redis returned no reply for the rate-limit counter');
    if (Number(counted[1]) <= limit) return null;
    return Math.max(1, Math.ceil((windowEndMs - nowMs) / 1000));
  };

  return {
    looksLikeKey: looksLikeApiKey,

    async authenticate(key, ip): Promise<ApiKeyAuthResult> {
      // Shape and checksum first: typos and invented keys never reach the database or Redis.
      const parsed = parseApiKey(key);
      if (!parsed.ok) return parsed;
      const hash = hashToken(key);
      const [row] = await db
        .select({ key: apiKeys, ownerRole: users.role, ownerStatus: users.status })
        .from(apiKeys)
        .innerJoin(users, eq(users.id, apiKeys.userId))
        .where(eq(apiKeys.keyHash, hash))
        .limit(1);
      // The index found the row by hash; the constant-time check is defence in depth.
      if (!row || !verifyTokenHash(key, row.key.keyHash)) return { ok: false, reason: 'API_KEY_INVALID' };
      const stored = row.key;
      const nowDate = now();
      if (stored.revokedAt) return { ok: false, reason: 'API_KEY_REVOKED' };
      // A rotated key's expiry was moved to the end of its grace period, so this also ends rotated keys.
      if (stored.expiresAt.getTime() <= nowDate.getTime()) return { ok: false, reason: 'API_KEY_EXPIRED' };
      if (row.ownerStatus !== 'active') return { ok: false, reason: 'API_KEY_OWNER_INACTIVE' };

      const retryAfterSeconds = await overLimitBy(stored.id, stored.rateLimitPerMinute);
      // A valid key over its limit is throttled (429), never reported as invalid (401).
      if (retryAfterSeconds !== null) return { ok: false, reason: 'API_KEY_RATE_LIMITED', retryAfterSeconds };

      const network = truncateIp(ip);
      const stale =
        stored.lastUsedAt === null ||
        nowDate.getTime() - stored.lastUsedAt.getTime() >= API_KEY_LAST_USED_WRITE_INTERVAL_SECONDS * 1000 ||
        stored.lastUsedIp !== network;
      // Throttled bookkeeping: one write per key per interval, not one per request.
      if (stale) {
        await db.update(apiKeys).set({ lastUsedAt: nowDate, lastUsedIp: network }).where(eq(apiKeys.id, stored.id));
      }
      return {
        ok: true,
        principal: {
          kind: 'api_key',
          userId: stored.userId,
          role: row.ownerRole,
          keyId: stored.id,
          // Narrowed to the owner's role as it is now, not as it was when the key was made.
          permissions: effectiveScopes(stored.scopes, row.ownerRole),
        },
      };
    },

    async create(input) {
      refuseKeyActors(input);
      const name = checkName(input.name);
      const expiresInDays = checkInteger(
        input.expiresInDays,
        API_KEY_DEFAULT_EXPIRY_DAYS,
        API_KEY_MAX_EXPIRY_DAYS,
        'API_KEY_EXPIRY_INVALID',
      );
      const rateLimitPerMinute = checkInteger(
        input.rateLimitPerMinute,
        API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE,
        API_KEY_MAX_RATE_LIMIT_PER_MINUTE,
        'API_KEY_RATE_LIMIT_INVALID',
      );
      const key = generateApiKey();
      const createdAt = now();
      const { row, role } = await db.transaction(async (tx) => {
        const owner = await activeOwner(tx, input.userId);
        const scopes = checkScopes(input.scopes ?? defaultScopes(owner.role), owner.role);
        const [active] = await tx
          .select({ total: count() })
          .from(apiKeys)
          .where(and(eq(apiKeys.userId, input.userId), isNull(apiKeys.revokedAt), gt(apiKeys.expiresAt, createdAt)));
        if ((active?.total ?? 0) >= MAX_API_KEYS_PER_USER) throw apiKeyError('API_KEY_LIMIT_REACHED');
        const [inserted] = await tx
          .insert(apiKeys)
          .values({
            userId: input.userId,
            name,
            // Only the hash is stored: a database leak yields nothing that authenticates.
            keyHash: hashToken(key),
            displayPrefix: apiKeyDisplayPrefix(key),
            scopes,
            rateLimitPerMinute,
            createdAt,
            expiresAt: new Date(createdAt.getTime() + expiresInDays * DAY_MS),
          })
          .returning();
        if (!inserted) throw new Error('insert returned no row');
        return { row: inserted, role: owner.role };
      });
      await record('api_key.created', input.userId, row.id, input);
      await tell({ kind: 'api-key-created', userId: input.userId, keyId: row.id });
      return { key, apiKey: toView(row, role, createdAt.getTime()) };
    },

    async list(userId) {
      const role = await roleOf(userId);
      if (!role) return [];
      const nowDate = now();
      const rows = await db
        .select()
        .from(apiKeys)
        .where(
          and(
            eq(apiKeys.userId, userId),
            isNull(apiKeys.revokedAt),
            gt(apiKeys.expiresAt, new Date(nowDate.getTime() - API_KEY_LIST_EXPIRED_DAYS * DAY_MS)),
          ),
        )
        .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));
      return rows.map((row) => toView(row, role, nowDate.getTime()));
    },

    async get(userId, keyId) {
      if (!UUID_PATTERN.test(keyId)) return null;
      const [row] = await db
        .select({ key: apiKeys, role: users.role })
        .from(apiKeys)
        .innerJoin(users, eq(users.id, apiKeys.userId))
        // Scoped to the owner: someone else's id looks exactly like an unknown one.
        .where(and(eq(apiKeys.id, keyId), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
        .limit(1);
      return row ? toView(row.key, row.role, now().getTime()) : null;
    },

    async rotate(input) {
      refuseKeyActors(input);
      if (!UUID_PATTERN.test(input.keyId)) throw apiKeyError('API_KEY_NOT_FOUND');
      const key = generateApiKey();
      const nowDate = now();
      const nowMs = nowDate.getTime();
      const { fresh, previous, role } = await db.transaction(async (tx) => {
        const owner = await activeOwner(tx, input.userId);
        const [old] = await tx
          .select()
          .from(apiKeys)
          .where(and(eq(apiKeys.id, input.keyId), eq(apiKeys.userId, input.userId), isNull(apiKeys.revokedAt)))
          .for('update') // two rotations of one key: the second waits, then sees it already rotated
          .limit(1);
        if (!old) throw apiKeyError('API_KEY_NOT_FOUND');
        if (old.replacedById || old.expiresAt.getTime() <= nowMs) throw apiKeyError('API_KEY_NOT_ACTIVE');
        // Same scopes, minus any the owner's role no longer grants (a new key never exceeds the role).
        const scopes = effectiveScopes(old.scopes, owner.role);
        if (scopes.length === 0) throw apiKeyError('API_KEY_SCOPE_NOT_ALLOWED');
        const lifetimeDays = Math.min(
          API_KEY_MAX_EXPIRY_DAYS,
          Math.max(1, Math.round((old.expiresAt.getTime() - old.createdAt.getTime()) / DAY_MS)),
        );
        const [inserted] = await tx
          .insert(apiKeys)
          .values({
            userId: input.userId,
            name: old.name,
            keyHash: hashToken(key),
            displayPrefix: apiKeyDisplayPrefix(key),
            scopes,
            rateLimitPerMinute: old.rateLimitPerMinute,
            createdAt: nowDate,
            expiresAt: new Date(nowMs + lifetimeDays * DAY_MS),
          })
          .returning();
        if (!inserted) throw new Error('insert returned no row');
        const graceEndsAt = new Date(Math.min(old.expiresAt.getTime(), nowMs + graceMs));
        const [updated] = await tx
          .update(apiKeys)
          // The old key works until the grace ends (never longer than it would have anyway), then stops.
          .set({ replacedById: inserted.id, expiresAt: graceEndsAt })
          .where(eq(apiKeys.id, old.id))
          .returning();
        if (!updated) throw new Error('update returned no row');
        return { fresh: inserted, previous: updated, role: owner.role };
      });
      await record('api_key.rotated', input.userId, previous.id, input);
      await record('api_key.created', input.userId, fresh.id, input);
      await tell({ kind: 'api-key-rotated', userId: input.userId, keyId: fresh.id });
      return { key, apiKey: toView(fresh, role, nowMs), previous: toView(previous, role, nowMs) };
    },

    async revoke(input) {
      if (!UUID_PATTERN.test(input.keyId)) throw apiKeyError('API_KEY_NOT_FOUND');
      const nowDate = now();
      const [row] = await db
        .update(apiKeys)
        .set({ revokedAt: nowDate })
        .where(and(eq(apiKeys.id, input.keyId), eq(apiKeys.userId, input.userId), isNull(apiKeys.revokedAt)))
        .returning();
      if (!row) throw apiKeyError('API_KEY_NOT_FOUND');
      const role = (await roleOf(input.userId)) ?? 'readonly';
      await record('api_key.revoked', input.userId, row.id, input);
      await tell({ kind: 'api-key-revoked', userId: input.userId, keyId: row.id });
      return toView(row, role, nowDate.getTime());
    },
  };
}
