/**
 * The API key format, modelled on GitHub's tokens: `tsp_` + 30 base62 characters of randomness + a 6-character
 * base62 CRC32 of everything before it. The prefix makes leaked keys findable by secret scanners and lets the
 * API tell keys from JWTs; the checksum rejects typos and made-up keys without touching the database.
 *
 * @example
 * const key = generateApiKey(); // 'tsp_4fZ0…' (40 characters)
 * parseApiKey(key); // { ok: true }
 */
import { crc32 } from 'node:zlib';
import { constantTimeEqual, randomBytesOf } from '../crypto/random.ts';

/** Product prefix of every key (GitHub's `ghp_` convention: greppable by secret scanners). */
export const API_KEY_PREFIX = 'tsp_';
/** Base62 alphabet: digits, upper case, lower case (URL-, header- and double-click-safe). */
export const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Random characters per key: 30 × log2(62) ≈ 178.6 bits, above the 160 bits the issue asks for. */
export const API_KEY_BODY_LENGTH = 30;
/** Checksum characters: 62^6 ≈ 5.7e10 > 2^32, so any CRC32 fits. */
export const API_KEY_CHECKSUM_LENGTH = 6;
/** Total length of a key in characters. */
export const API_KEY_LENGTH = API_KEY_PREFIX.length + API_KEY_BODY_LENGTH + API_KEY_CHECKSUM_LENGTH;
/** Leading characters kept for display (the prefix and 4 random characters). */
export const API_KEY_DISPLAY_HEAD_LENGTH = 8;
/** Trailing characters kept for display (checksum characters). */
export const API_KEY_DISPLAY_TAIL_LENGTH = 4;

/**
 * Bytes at or above this are discarded when drawing characters: 248 = 4 × 62, so `byte % 62` is uniform below
 * it (rejection sampling; a plain `% 62` over 0..255 would favour the first 8 characters).
 */
const UNBIASED_BYTE_LIMIT = 256 - (256 % BASE62_ALPHABET.length);
const BODY_PATTERN = new RegExp(`^[0-9A-Za-z]{${API_KEY_BODY_LENGTH + API_KEY_CHECKSUM_LENGTH}}$`);

/**
 * `length` uniformly random base62 characters from the OS CSPRNG.
 * @example randomBase62(30) // 'q3ZkP0…'
 */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    // Draw a little more than needed: about 3% of bytes are rejected.
    const bytes = randomBytesOf(length - out.length + 8);
    for (const byte of bytes) {
      if (byte >= UNBIASED_BYTE_LIMIT) continue; // rejected: keeps every character equally likely
      out += BASE62_ALPHABET[byte % BASE62_ALPHABET.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** `value` (a non-negative integer) in base62, left-padded with '0' to `width` characters. */
function toBase62(value: number, width: number): string {
  let rest = value;
  let out = '';
  do {
    out = BASE62_ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  } while (rest > 0);
  return out.padStart(width, '0');
}

/**
 * The checksum of a key's prefix and body: CRC32 (IEEE, as zlib computes it) in 6 base62 characters.
 * Not a security measure (anyone can compute it): it only rejects mistyped and invented keys early.
 * @example apiKeyChecksum('tsp_' + body) // '2cXq0B'
 */
export function apiKeyChecksum(prefixAndBody: string): string {
  return toBase62(crc32(prefixAndBody), API_KEY_CHECKSUM_LENGTH);
}

/**
 * A new random API key (`tsp_` + 30 random base62 characters + 6 checksum characters). Show it to its owner
 * once and store only {@link hashToken} of it.
 */
export function generateApiKey(): string {
  const head = API_KEY_PREFIX + randomBase62(API_KEY_BODY_LENGTH);
  return head + apiKeyChecksum(head);
}

/** True when `value` carries our prefix, i.e. it should be checked as an API key and not as a JWT. */
export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(API_KEY_PREFIX);
}

/** The outcome of {@link parseApiKey}. */
export type ApiKeyParseResult = { ok: true } | { ok: false; reason: 'API_KEY_MALFORMED' | 'API_KEY_CHECKSUM_INVALID' };

/**
 * Checks a presented key's shape and checksum, without any I/O: a key that fails here never reaches the
 * database.
 * @returns `{ ok: true }`, or why it was refused (`API_KEY_MALFORMED`: wrong prefix, length or characters;
 *   `API_KEY_CHECKSUM_INVALID`: the right shape but a checksum that does not match).
 */
export function parseApiKey(value: string): ApiKeyParseResult {
  if (value.length !== API_KEY_LENGTH || !looksLikeApiKey(value)) return { ok: false, reason: 'API_KEY_MALFORMED' };
  if (!BODY_PATTERN.test(value.slice(API_KEY_PREFIX.length))) return { ok: false, reason: 'API_KEY_MALFORMED' };
  const head = value.slice(0, API_KEY_LENGTH - API_KEY_CHECKSUM_LENGTH);
  const checksum = value.slice(API_KEY_LENGTH - API_KEY_CHECKSUM_LENGTH);
  // The checksum is public (derived from the key), but comparing in constant time costs nothing.
  if (!constantTimeEqual(apiKeyChecksum(head), checksum)) return { ok: false, reason: 'API_KEY_CHECKSUM_INVALID' };
  return { ok: true };
}

/**
 * What the owner sees of a stored key: the first 8 and last 4 characters (`tsp_AbC1…x9Zq`). These reveal
 * 4 random characters (≈ 24 bits) and 4 checksum characters, which leaves well over 128 bits unknown.
 */
export function apiKeyDisplayPrefix(key: string): string {
  return `${key.slice(0, API_KEY_DISPLAY_HEAD_LENGTH)}…${key.slice(-API_KEY_DISPLAY_TAIL_LENGTH)}`;
}
