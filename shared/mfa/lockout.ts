/**
 * Second-factor lockout: a leaky bucket per (person, channel) in Redis. Each wrong code adds one; the
 * bucket drains one every LEAK_SECONDS. Reaching LOCKOUT_THRESHOLD locks verification on that channel for
 * LOCKOUT_SECONDS, doubled for each further lockout remembered (LOCKOUT_MEMORY_SECONDS after the last one),
 * up to MAX_LOCKOUT_SECONDS. Per channel: someone with only an API session cannot lock the owner out of
 * the bot. The threat model is written out in test/shared/mfa/mfa.lockout.db.test.ts.
 */
import type { Redis } from 'ioredis';

export type MfaChannel = 'api' | 'bot';

/** Wrong codes that lock (NIST SP 800-63B 5.2.2 allows up to 100; 5 keeps a 6-digit guess at 5 in 10^6). */
export const LOCKOUT_THRESHOLD = 5;
/** First lock: 15 minutes. */
export const LOCKOUT_SECONDS = 15 * 60;
/** The bucket drains one failure per 3 minutes: 5 failures spread over 15 minutes never lock. */
export const LEAK_SECONDS = LOCKOUT_SECONDS / LOCKOUT_THRESHOLD;
/** Escalation memory: a lockout within a day of the last one doubles. */
export const LOCKOUT_MEMORY_SECONDS = 24 * 3600;
/** No lock is longer than a day (the owner can still use the other channel or ask an admin). */
export const MAX_LOCKOUT_SECONDS = 24 * 3600;

/** Atomic: leak, add one failure, lock when full. Returns {justLocked, lockedUntilMs, lockouts, alreadyLocked}. */
const FAIL_SCRIPT = `
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'level', 'ts', 'lockedUntil', 'lockouts')
local level = tonumber(h[1]) or 0
local ts = tonumber(h[2]) or now
local lockedUntil = tonumber(h[3]) or 0
local lockouts = tonumber(h[4]) or 0
if lockedUntil > now then return {0, lockedUntil, lockouts, 1} end
-- Whole failures drain: the bucket's clock moves by what was drained (so partial progress is kept).
local leaked = math.floor((now - ts) / tonumber(ARGV[3]))
if leaked > 0 then
  level = math.max(0, level - leaked)
  ts = ts + leaked * tonumber(ARGV[3])
end
if level == 0 then ts = now end
level = level + 1
local just = 0
if level >= tonumber(ARGV[2]) then
  lockouts = lockouts + 1
  local lock = math.min(tonumber(ARGV[4]) * math.pow(2, lockouts - 1), tonumber(ARGV[5]))
  lockedUntil = math.floor(now + lock)
  level = 0
  just = 1
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(ts), 'lockedUntil', tostring(lockedUntil), 'lockouts', tostring(lockouts))
redis.call('PEXPIRE', KEYS[1], math.floor(math.max(lockedUntil - now, 0) + tonumber(ARGV[6])))
return {just, lockedUntil, lockouts, 0}
`;

export interface LockoutState {
  locked: boolean;
  /** Epoch ms the current lock ends, or null. */
  lockedUntil: number | null;
  lockouts: number;
}

export interface FailureOutcome extends LockoutState {
  /** True when this failure started a lock (record a security event, tell the person). */
  justLocked: boolean;
}

export interface Lockout {
  check(userId: string, channel: MfaChannel): Promise<LockoutState>;
  /** Records a wrong code. A failure while locked changes nothing (the lock is not extended by noise). */
  fail(userId: string, channel: MfaChannel): Promise<FailureOutcome>;
  /** A correct code empties the bucket (escalation memory stays). */
  succeed(userId: string, channel: MfaChannel): Promise<void>;
  /** Forgets everything (after an admin reset or a new enrolment). */
  clear(userId: string): Promise<void>;
}

/** The lockout over `redis`, keys under `${prefix}:mfa:lock:`. `now` is epoch ms (tests fix it). */
export function createLockout(deps: { redis: Redis; prefix: string; now?: () => number }): Lockout {
  const { redis } = deps;
  const now = deps.now ?? (() => Date.now());
  const key = (userId: string, channel: MfaChannel) => `${deps.prefix}:mfa:lock:${userId}:${channel}`;
  return {
    async check(userId, channel) {
      const [until, lockouts] = await redis.hmget(key(userId, channel), 'lockedUntil', 'lockouts');
      const lockedUntil = Number(until ?? 0);
      const locked = lockedUntil > now();
      return { locked, lockedUntil: locked ? lockedUntil : null, lockouts: Number(lockouts ?? 0) };
    },
    async fail(userId, channel) {
      const [just, until, lockouts, already] = (await redis.eval(
        FAIL_SCRIPT,
        1,
        key(userId, channel),
        String(now()),
        String(LOCKOUT_THRESHOLD),
        String(LEAK_SECONDS * 1000),
        String(LOCKOUT_SECONDS * 1000),
        String(MAX_LOCKOUT_SECONDS * 1000),
        String(LOCKOUT_MEMORY_SECONDS * 1000),
      )) as [number, number, number, number];
      const locked = just === 1 || already === 1;
      return { justLocked: just === 1, locked, lockedUntil: locked ? Number(until) : null, lockouts: Number(lockouts) };
    },
    async succeed(userId, channel) {
      // Only an existing bucket: HSET on a missing key would create one without a TTL.
      await redis.eval(
        "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'level', '0') end return 0",
        1,
        key(userId, channel),
      );
    },
    async clear(userId) {
      await redis.del(key(userId, 'api'), key(userId, 'bot'));
    },
  };
}
