/**
 * Backup codes: 10 single-use codes of 10 Base32 characters (`xxxxx-xxxxx`, 50 bits each), for when the
 * authenticator app is lost. Only an HMAC of each code under a server pepper is stored, bound to its owner,
 * so a database leak gives nothing an attacker could try offline without the pepper.
 */
import { keyedHash } from '../crypto/hash.ts';
import { randomBytesOf } from '../crypto/random.ts';

/** How many codes a set has. */
export const BACKUP_CODE_COUNT = 10;
/** Characters per code (Base32: 5 bits each → 50 bits, beyond online guessing under the lockout). */
export const BACKUP_CODE_LENGTH = 10;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'; // RFC 4648 Base32: no 0/1/8/9 to confuse with O/I/B/g

/** HKDF purpose of the pepper (derived from the master key with `deriveKey`). */
export const BACKUP_CODE_PEPPER_PURPOSE = 'mfa-backup-codes-v1';

/** A fresh set of codes, formatted for display (`abcde-fghij`). */
export function generateBackupCodes(count = BACKUP_CODE_COUNT): string[] {
  const codes: string[] = [];
  for (let index = 0; index < count; index++) {
    // 256 is a multiple of 32: `byte % 32` is unbiased.
    const chars = [...randomBytesOf(BACKUP_CODE_LENGTH)].map((byte) => ALPHABET[byte % 32]).join('');
    codes.push(`${chars.slice(0, 5)}-${chars.slice(5)}`.toLowerCase());
  }
  return codes;
}

/**
 * The canonical form of a typed code (case, spaces and dashes ignored), or null when it cannot be a code.
 * @example normaliseBackupCode(' ABCDE fghij ') === 'ABCDEFGHIJ'
 */
export function normaliseBackupCode(input: string): string | null {
  const compact = input.replace(/[\s-]+/g, '').toUpperCase();
  if (compact.length !== BACKUP_CODE_LENGTH) return null;
  for (const char of compact) if (!ALPHABET.includes(char)) return null;
  return compact;
}

/** True when `input` has the shape of a backup code (not whether it is one). */
export function looksLikeBackupCode(input: string): boolean {
  return normaliseBackupCode(input) !== null;
}

/** The stored form of a code: HMAC-SHA256 under the pepper, bound to the owner (the same code elsewhere differs). */
export function hashBackupCode(pepper: Uint8Array, userId: string, code: string): string {
  const normalised = normaliseBackupCode(code) ?? code;
  return keyedHash(pepper, `backup-code\u0000${userId}\u0000${normalised}`);
}
