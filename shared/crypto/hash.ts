/**
 * Hashing helpers. Tokens that only need checking (refresh tokens, API keys, backup codes) are stored as
 * hashes, never encrypted: a database leak then reveals nothing usable.
 */
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { constantTimeEqual } from './random.ts';

/** SHA-256 of a value, hex. */
export function sha256Hex(value: string | Uint8Array): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * Hash of a high-entropy token (≥128 bits) for storage and lookup. A plain SHA-256 is enough because the
 * input cannot be guessed; low-entropy secrets (passwords, 6-digit codes) need {@link keyedHash} or a KDF.
 */
export function hashToken(token: string): string {
  return sha256Hex(token);
}

/** True when `token` hashes to `storedHash`, compared in constant time. */
export function verifyTokenHash(token: string, storedHash: string): boolean {
  return constantTimeEqual(hashToken(token), storedHash);
}

/** HMAC-SHA256 of `value` under `key`, hex (for low-entropy values: an attacker without the key cannot test guesses). */
export function keyedHash(key: Uint8Array, value: string | Uint8Array): string {
  return createHmac('sha256', key).update(value).digest('hex');
}

/**
 * Derives an independent 32-byte subkey from the master key (HKDF-SHA256, RFC 5869) for one purpose.
 * @example deriveKey(masterKey, 'blind-index-v1')
 */
export function deriveKey(masterKey: Uint8Array, purpose: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `tsp:${purpose}`, length));
}

/**
 * A keyed blind index: lets the database find rows by a value (an OAuth subject, an email) without storing
 * the value. HMAC with a key separate from the encryption keys; `purpose` keeps indexes of different
 * columns unlinkable. Delete it on erasure like the value itself.
 */
export function blindIndex(indexKey: Uint8Array, purpose: string, value: string): string {
  const normalised = value.normalize('NFKC').trim();
  return keyedHash(indexKey, `${purpose}\u0000${normalised}`);
}
