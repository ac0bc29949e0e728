/**
 * Decision targets: what a decision applies to, how it is matched without keeping the value (a keyed hash,
 * like a blind index), and how it is shown to admins (masked).
 */
import { createHmac } from 'node:crypto';
import { rateKeyForIp } from './rate-key.ts';

/** What a decision can target. `ip` means an IPv4 address or an IPv6 /64 (shared/defense/rate-key.ts). */
export const DECISION_SCOPES = ['user', 'telegram_user', 'api_key', 'ip', 'chat'] as const;
export type DecisionScope = (typeof DECISION_SCOPES)[number];

/** throttle: 429 and silence; ban: 403 and silence; factor_lockout: second-factor checks refused. */
export const DECISION_KINDS = ['throttle', 'ban', 'factor_lockout'] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** One target: a scope and its value (a user id, a Telegram id, an API key id, an address, a chat id). */
export interface DecisionTarget {
  scope: DecisionScope;
  value: string;
}

/** Hex characters kept of each keyed hash: 128 bits, far beyond any collision a cache could meet. */
const HASH_HEX_LENGTH = 32;
/** Most hashes remembered per process (addresses and ids seen recently), so a hit costs no HMAC. */
const MEMO_LIMIT = 10_000;

/** The canonical text of a target: an address becomes its rate-limit bucket (IPv4 or IPv6 /64). */
export function canonicalTarget(target: DecisionTarget): string {
  const value = target.scope === 'ip' ? rateKeyForIp(target.value) : target.value.trim().toLowerCase();
  return `${target.scope}:${value}`;
}

export type TargetHasher = (target: DecisionTarget) => string;

/**
 * A keyed hash of targets (HMAC-SHA256 under a key derived from the master key, 128 bits hex), memoised:
 * the enforcement hooks hash the caller's address and ids on every request while any decision is active.
 * @example const hash = createTargetHasher(deriveKey(masterKey, 'defense-target-v1')); hash({ scope: 'ip', value: '203.0.113.7' })
 */
export function createTargetHasher(key: Uint8Array): TargetHasher {
  const memo = new Map<string, string>();
  return (target) => {
    // Memoised on the raw value: a repeat caller costs one Map lookup (no parsing, no HMAC).
    const raw = `${target.scope}\u0000${target.value}`;
    const known = memo.get(raw);
    if (known !== undefined) return known;
    const hash = createHmac('sha256', key).update(canonicalTarget(target)).digest('hex').slice(0, HASH_HEX_LENGTH);
    // Bounded: an attacker rotating addresses only evicts entries, never grows memory.
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(raw, hash);
    return hash;
  };
}

/**
 * A label an admin can read without the full value: the last octet of an IPv4 address hidden, an IPv6 /64
 * as is (it names a network, not a host), ids shortened to their first 8 characters and Telegram ids to
 * their last 3 digits.
 * @example maskTarget({ scope: 'ip', value: '203.0.113.7' }) // 'ip4:203.0.113.x'
 */
export function maskTarget(target: DecisionTarget): string {
  if (target.scope === 'ip') {
    const key = rateKeyForIp(target.value);
    return key.startsWith('ip4:') ? key.replace(/\.\d+$/, '.x') : key;
  }
  if (target.scope === 'telegram_user' || target.scope === 'chat') {
    return `${target.scope === 'chat' ? 'chat' : 'tg'}:…${target.value.slice(-3)}`;
  }
  return `${target.scope === 'api_key' ? 'key' : 'user'}:${target.value.slice(0, 8)}…`;
}
