/**
 * Sessions and refresh tokens, in Redis. One server-side record per sign-in (created, last seen, client,
 * truncated IP); access tokens name their session and stop working the moment it is revoked. Refresh tokens
 * are opaque 256-bit values stored only as hashes, rotated on every use and grouped in a family per session:
 * presenting an already-rotated token means it was stolen or replayed, and the whole family is revoked.
 *
 * With `cache`, each process keeps the sessions it read recently (at most SESSION_CACHE_MAX_AGE_MS) so an
 * authenticated request costs no Redis round trip. Every change to a session (revocation, role, second factor,
 * refresh) drops it locally at once and is published on a Redis channel that every process subscribes to, so
 * other processes drop it within the pub/sub delivery time. While the subscription is not live (connecting,
 * reconnecting) nothing is cached: a missed message can never keep a revoked session alive. A read that
 * started before an invalidation arrived is not cached (an epoch counter tells).
 */
import type { Redis } from 'ioredis';
import { hashToken } from '../crypto/hash.ts';
import { randomBytesOf, randomToken } from '../crypto/random.ts';
import type { UserRole } from '../db/schema.ts';
import type { AuthMethod } from '../identity/principal.ts';
import { type InvalidationSubscription, subscribeInvalidations } from '../redis/invalidation.ts';

/** Sliding lifetime: a session unused this long ends. */
export const SESSION_IDLE_SECONDS = 30 * 24 * 3600;
/** Absolute lifetime: no session lives longer, however active (then sign in again). */
export const SESSION_ABSOLUTE_SECONDS = 90 * 24 * 3600;
const REFRESH_PREFIX = 'rt_';
export const MAX_SESSIONS_PER_USER = 50;
/** How long a process may answer from its cache before reading a session from Redis again. */
export const SESSION_CACHE_MAX_AGE_MS = 5_000;
/** Sessions kept per process; past it the cache starts over (a flood of distinct sessions gains nothing). */
const SESSION_CACHE_MAX_ENTRIES = 50_000;

export interface SessionRecord {
  id: string;
  userId: string;
  /** The user's role, kept current by `setRole`: the per-request check reads it, so demotion is immediate. */
  role: UserRole;
  createdAt: number;
  lastSeenAt: number;
  /** A short client label ("Mini App · ios", "bot"), never a raw user agent. */
  client: string;
  /** Truncated IP (/24, /48) or empty. */
  ip: string;
  amr: AuthMethod[];
  authTime: number;
  secondFactorAt: number | undefined;
  absoluteExpiresAt: number;
}

export type RefreshOutcome =
  | { ok: true; session: SessionRecord; refreshToken: string }
  | { ok: false; reason: 'REFRESH_TOKEN_INVALID' | 'REFRESH_TOKEN_EXPIRED' | 'SESSION_REVOKED' }
  | { ok: false; reason: 'REFRESH_TOKEN_REUSED'; userId: string; sessionId: string };

export interface SessionStore {
  create(input: {
    userId: string;
    role: UserRole;
    client: string;
    ip: string;
    amr: AuthMethod[];
    secondFactorAt?: number | undefined;
  }): Promise<{ session: SessionRecord; refreshToken: string }>;
  get(sessionId: string): Promise<SessionRecord | null>;
  /** One EXISTS: is the session still valid. */
  isActive(sessionId: string): Promise<boolean>;
  /** Updates the role on every session of the user (after an admin changes it). */
  setRole(userId: string, role: UserRole): Promise<void>;
  list(userId: string): Promise<SessionRecord[]>;
  /** Rotates a refresh token (atomically); a reused token revokes its whole family. */
  refresh(refreshToken: string): Promise<RefreshOutcome>;
  revoke(sessionId: string): Promise<boolean>;
  /** Revokes every session of the user except `keepSessionId`; returns how many were revoked. */
  revokeAll(userId: string, keepSessionId?: string): Promise<number>;
  /** Records a second-factor check (for step-up) and adds `otp` to the session's methods. */
  markSecondFactor(sessionId: string, atSeconds: number): Promise<void>;
  /** Ends the cache's subscription (when built with `cache`). */
  close(): Promise<void>;
}

export interface SessionCacheOptions {
  /** Opens the connection that subscribes to invalidations (a dedicated one: subscribers can do nothing else). */
  createSubscriber: () => Redis;
}

/**
 * Atomic rotation: an active token becomes "rotated" and its session id is returned; a token already rotated
 * is reported as reuse. KEEPTTL keeps the reuse marker until the session's absolute end.
 */
const ROTATE_SCRIPT = `
local value = redis.call('GET', KEYS[1])
if not value then return {0, ''} end
local sep = string.find(value, '|', 1, true)
local sid = string.sub(value, 1, sep - 1)
local state = string.sub(value, sep + 1)
if state ~= 'active' then return {2, sid} end
redis.call('SET', KEYS[1], sid .. '|rotated', 'KEEPTTL')
return {1, sid}
`;

const SET_IF_EXISTS_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
`;

export function createSessionStore(deps: {
  redis: Redis;
  prefix: string;
  now?: () => number;
  cache?: SessionCacheOptions;
}): SessionStore {
  const { redis } = deps;
  const now = deps.now ?? Date.now;
  const sessionKey = (sid: string) => `${deps.prefix}:sess:${sid}`;
  const userKey = (userId: string) => `${deps.prefix}:user-sess:${userId}`;
  const familyKey = (sid: string) => `${deps.prefix}:rt-family:${sid}`;
  const refreshKey = (hash: string) => `${deps.prefix}:rt:${hash}`;
  const invalidationChannel = `${deps.prefix}:sess-invalidated`;

  const cached = new Map<string, { record: SessionRecord; at: number }>();
  /** Bumped by every invalidation: a read that saw it change while in flight is not cached. */
  let epoch = 0;
  /** Live while subscribed; only then is anything cached or answered from the cache. */
  let subscription: InvalidationSubscription | undefined;
  // Messages sent while the connection is down are lost: forget everything until subscribed again.
  const forgetAll = () => {
    epoch++;
    cached.clear();
  };
  if (deps.cache) {
    subscription = subscribeInvalidations(deps.cache.createSubscriber(), invalidationChannel, {
      onMessage: (sid) => {
        epoch++;
        cached.delete(sid);
      },
      onLost: forgetAll,
      onLive: forgetAll,
    });
  }
  const isLive = () => subscription?.isLive() === true;

  const parse = (id: string, hash: Record<string, string>): SessionRecord | null => {
    if (!hash.userId) return null;
    return {
      id,
      userId: hash.userId,
      role: (hash.role ?? 'readonly') as UserRole,
      createdAt: Number(hash.createdAt),
      lastSeenAt: Number(hash.lastSeenAt),
      client: hash.client ?? '',
      ip: hash.ip ?? '',
      amr: (hash.amr ?? '').split(',').filter(Boolean) as AuthMethod[],
      authTime: Number(hash.authTime),
      secondFactorAt: hash.secondFactorAt ? Number(hash.secondFactorAt) : undefined,
      absoluteExpiresAt: Number(hash.absoluteExpiresAt),
    };
  };

  /** Reads a session from Redis (never from the cache). */
  const read = async (sid: string): Promise<SessionRecord | null> => parse(sid, await redis.hgetall(sessionKey(sid)));

  /**
   * Drops a changed session here at once and, through the channel, in every other process (also from a process
   * that keeps no cache itself, such as a worker ending sessions: the API's processes may).
   */
  const invalidate = async (sid: string): Promise<void> => {
    epoch++;
    cached.delete(sid);
    await redis.publish(invalidationChannel, sid);
  };

  /** Issues a refresh token for the session, expiring with it. */
  const issueRefresh = async (sid: string, absoluteExpiresAt: number): Promise<string> => {
    const token = `${REFRESH_PREFIX}${randomToken(32)}`;
    const hash = hashToken(token);
    const expireAtSeconds = Math.ceil(absoluteExpiresAt / 1000);
    await redis
      .multi()
      .set(refreshKey(hash), `${sid}|active`, 'EXAT', expireAtSeconds)
      .sadd(familyKey(sid), hash)
      .expireat(familyKey(sid), expireAtSeconds)
      .exec();
    return token;
  };

  const slidingExpiry = (absoluteExpiresAt: number) =>
    Math.ceil(Math.min(now() + SESSION_IDLE_SECONDS * 1000, absoluteExpiresAt) / 1000);

  const revoke = async (sid: string): Promise<boolean> => {
    const hash = await redis.hgetall(sessionKey(sid));
    const family = await redis.smembers(familyKey(sid));
    const pipeline = redis.multi().del(sessionKey(sid)).del(familyKey(sid));
    // Keep the family's refresh tokens as "revoked" markers so a late reuse is still recognised, not unknown.
    for (const member of family) pipeline.set(refreshKey(member), `${sid}|revoked`, 'KEEPTTL', 'XX');
    if (hash.userId) pipeline.srem(userKey(hash.userId), sid);
    await pipeline.exec();
    await invalidate(sid);
    return Boolean(hash.userId);
  };

  const store: SessionStore = {
    async create(input) {
      // Hex, not base64url: an id starting with '-' or '_' is refused by the audit trail's opaque-id check.
      const sid = randomBytesOf(18).toString('hex');
      const at = now();
      const absoluteExpiresAt = at + SESSION_ABSOLUTE_SECONDS * 1000;
      const record: Record<string, string> = {
        userId: input.userId,
        role: input.role,
        createdAt: String(at),
        lastSeenAt: String(at),
        client: input.client.slice(0, 80),
        ip: input.ip,
        amr: input.amr.join(','),
        authTime: String(Math.floor(at / 1000)),
        absoluteExpiresAt: String(absoluteExpiresAt),
        ...(input.secondFactorAt ? { secondFactorAt: String(input.secondFactorAt) } : {}),
      };
      await redis
        .multi()
        .hset(sessionKey(sid), record)
        .expireat(sessionKey(sid), slidingExpiry(absoluteExpiresAt))
        .sadd(userKey(input.userId), sid)
        .exec();
      const refreshToken = await issueRefresh(sid, absoluteExpiresAt);
      // Bound the number of sessions per person: the oldest go first. SCARD first, so an ordinary sign-in
      // does not read every session (the set may hold expired ids; `list` prunes them when it runs).
      if ((await redis.scard(userKey(input.userId))) <= MAX_SESSIONS_PER_USER) {
        return { session: parse(sid, record) as SessionRecord, refreshToken };
      }
      const sessions = await store.list(input.userId);
      if (sessions.length > MAX_SESSIONS_PER_USER) {
        const oldest = [...sessions].sort((a, b) => a.lastSeenAt - b.lastSeenAt);
        for (const session of oldest.slice(0, sessions.length - MAX_SESSIONS_PER_USER)) await revoke(session.id);
      }
      return { session: parse(sid, record) as SessionRecord, refreshToken };
    },

    async get(sessionId) {
      const live = isLive();
      if (live) {
        const hit = cached.get(sessionId);
        if (hit && performance.now() - hit.at < SESSION_CACHE_MAX_AGE_MS) return hit.record;
      }
      const startedAt = epoch;
      const record = await read(sessionId);
      if (record && isLive() && epoch === startedAt) {
        if (cached.size >= SESSION_CACHE_MAX_ENTRIES) cached.clear();
        cached.set(sessionId, { record, at: performance.now() });
      }
      return record;
    },

    async isActive(sessionId) {
      return (await redis.exists(sessionKey(sessionId))) === 1;
    },

    async list(userId) {
      const ids = await redis.smembers(userKey(userId));
      const sessions: SessionRecord[] = [];
      const stale: string[] = [];
      for (const id of ids) {
        const session = parse(id, await redis.hgetall(sessionKey(id)));
        if (session) sessions.push(session);
        else stale.push(id);
      }
      if (stale.length > 0) await redis.srem(userKey(userId), ...stale);
      return sessions.sort((a, b) => b.lastSeenAt - a.lastSeenAt);
    },

    async refresh(refreshToken) {
      if (!refreshToken.startsWith(REFRESH_PREFIX) || refreshToken.length > 100) {
        return { ok: false, reason: 'REFRESH_TOKEN_INVALID' };
      }
      const hash = hashToken(refreshToken);
      const [state, sid] = (await redis.eval(ROTATE_SCRIPT, 1, refreshKey(hash))) as [number, string];
      if (state === 0) return { ok: false, reason: 'REFRESH_TOKEN_INVALID' };
      const session = await read(sid);
      if (state === 2) {
        // Reuse of a rotated token: someone else holds the family. End the session for everyone.
        const marker = await redis.get(refreshKey(hash));
        if (session) await revoke(sid);
        if (marker?.endsWith('|revoked') && !session) return { ok: false, reason: 'SESSION_REVOKED' };
        return { ok: false, reason: 'REFRESH_TOKEN_REUSED', userId: session?.userId ?? '', sessionId: sid };
      }
      if (!session) return { ok: false, reason: 'SESSION_REVOKED' };
      if (session.absoluteExpiresAt <= now()) {
        await revoke(sid);
        return { ok: false, reason: 'REFRESH_TOKEN_EXPIRED' };
      }
      const at = now();
      await redis
        .multi()
        .hset(sessionKey(sid), 'lastSeenAt', String(at))
        .expireat(sessionKey(sid), slidingExpiry(session.absoluteExpiresAt))
        .exec();
      await invalidate(sid);
      const next = await issueRefresh(sid, session.absoluteExpiresAt);
      return { ok: true, session: { ...session, lastSeenAt: at }, refreshToken: next };
    },

    revoke,

    async revokeAll(userId, keepSessionId) {
      let count = 0;
      for (const id of await redis.smembers(userKey(userId))) {
        if (id !== keepSessionId && (await revoke(id))) count++;
      }
      return count;
    },

    async setRole(userId, role) {
      for (const id of await redis.smembers(userKey(userId))) {
        // Only sessions that still exist: HSET on an expired key would resurrect it without a TTL.
        await redis.eval(SET_IF_EXISTS_SCRIPT, 1, sessionKey(id), 'role', role);
        await invalidate(id);
      }
    },

    async markSecondFactor(sessionId, atSeconds) {
      await redis.eval(SET_IF_EXISTS_SCRIPT, 1, sessionKey(sessionId), 'secondFactorAt', String(atSeconds));
      const session = await read(sessionId);
      if (session && !session.amr.includes('otp')) {
        // The session now includes a one-time-password check: tokens issued from it say so (RFC 8176 `otp`).
        await redis.eval(SET_IF_EXISTS_SCRIPT, 1, sessionKey(sessionId), 'amr', [...session.amr, 'otp'].join(','));
      }
      await invalidate(sessionId);
    },

    async close() {
      forgetAll();
      subscription?.close();
      subscription = undefined;
    },
  };
  return store;
}
