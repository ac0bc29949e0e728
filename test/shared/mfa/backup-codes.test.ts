/**
 * Threat: guessable or reusable backup codes turn "lost phone" recovery into a way around the second factor,
 * and a database leak that holds codes (or unkeyed hashes of them) hands them out. Codes carry 50 random
 * bits, are stored only as HMACs under a server pepper and bound to their owner.
 */
import { describe, expect, it } from 'vitest';
import {
  BACKUP_CODE_COUNT,
  generateBackupCodes,
  hashBackupCode,
  looksLikeBackupCode,
  normaliseBackupCode,
} from '#shared/mfa/backup-codes.ts';

const pepper = new Uint8Array(32).fill(7);
const USER_A = '11111111-1111-4111-8111-111111111111';
const USER_B = '22222222-2222-4222-8222-222222222222';

describe('backup codes', () => {
  it('makes 10 distinct codes shaped xxxxx-xxxxx from the Base32 alphabet', () => {
    const codes = generateBackupCodes();
    expect(codes).toHaveLength(BACKUP_CODE_COUNT);
    expect(new Set(codes).size).toBe(BACKUP_CODE_COUNT);
    for (const code of codes) expect(code).toMatch(/^[a-z2-7]{5}-[a-z2-7]{5}$/);
  });

  it('uses the whole alphabet (no bias toward a few characters)', () => {
    const chars = new Set(
      Array.from({ length: 50 }, () => generateBackupCodes())
        .flat()
        .join('')
        .replace(/-/g, ''),
    );
    expect(chars.size).toBe(32);
  });

  it('ignores case, spaces and dashes when read back, and refuses other shapes', () => {
    expect(normaliseBackupCode(' abcde-FGHIJ ')).toBe('ABCDEFGHIJ');
    expect(normaliseBackupCode('abcde fghij')).toBe('ABCDEFGHIJ');
    for (const bad of ['abcde-fghi', 'abcde-fghijk', 'abcde-fgh1j', '123456', '']) {
      expect(normaliseBackupCode(bad)).toBeNull();
      expect(looksLikeBackupCode(bad)).toBe(false);
    }
  });

  it('stores a keyed hash bound to the owner, equal for every spelling of the code', () => {
    const hash = hashBackupCode(pepper, USER_A, 'abcde-fghij');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hashBackupCode(pepper, USER_A, 'ABCDEFGHIJ')).toBe(hash);
    expect(hashBackupCode(pepper, USER_B, 'abcde-fghij')).not.toBe(hash);
    expect(hashBackupCode(new Uint8Array(32).fill(8), USER_A, 'abcde-fghij')).not.toBe(hash);
    expect(hash).not.toContain('abcde');
  });
});
