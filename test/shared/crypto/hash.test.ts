/**
 * Tokens are stored as hashes and compared in constant time; blind indexes let lookups by value work
 * without storing the value, and are unlinkable across purposes and useless without their key.
 */
import { hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blindIndex, deriveKey, hashToken, keyedHash, sha256Hex, verifyTokenHash } from '#shared/crypto/hash.ts';
import { constantTimeEqual, randomBytesOf, randomToken } from '#shared/crypto/random.ts';

describe('hashing helpers', () => {
  it('hashes tokens with SHA-256 (FIPS 180-4 "abc" vector) and verifies them', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const token = randomToken();
    const stored = hashToken(token);
    expect(stored).not.toContain(token);
    expect(verifyTokenHash(token, stored)).toBe(true);
    expect(verifyTokenHash(`${token}x`, stored)).toBe(false);
  });

  it('makes 256-bit URL-safe random tokens', () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(Array.from({ length: 100 }, () => randomToken())).size).toBe(100);
  });

  it('compares in constant time and handles unequal lengths', () => {
    expect(constantTimeEqual('secret', 'secret')).toBe(true);
    expect(constantTimeEqual('secret', 'secreT')).toBe(false);
    expect(constantTimeEqual('secret', 'secret-longer')).toBe(false);
    expect(constantTimeEqual(Buffer.from([1, 2]), Buffer.from([1, 2]))).toBe(true);
  });

  it('derives independent subkeys with HKDF-SHA256 (RFC 5869 test case 1 for the primitive)', () => {
    const okm = hkdfSync(
      'sha256',
      Buffer.from('0b'.repeat(22), 'hex'),
      Buffer.from('000102030405060708090a0b0c', 'hex'),
      Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'),
      42,
    );
    expect(Buffer.from(okm).toString('hex')).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
    const master = randomBytesOf(32);
    expect(deriveKey(master, 'blind-index-v1').equals(deriveKey(master, 'blind-index-v1'))).toBe(true);
    expect(deriveKey(master, 'blind-index-v1').equals(deriveKey(master, 'audit-v1'))).toBe(false);
  });

  it('builds blind indexes that match equal values only, per purpose and key', () => {
    const key = randomBytesOf(32);
    const index = blindIndex(key, 'oauth-subject', 'google:1234');
    expect(blindIndex(key, 'oauth-subject', 'google:1234')).toBe(index);
    expect(blindIndex(key, 'oauth-subject', ' google:1234 ')).toBe(index); // trimmed
    expect(blindIndex(key, 'oauth-subject', 'google:1235')).not.toBe(index);
    expect(blindIndex(key, 'email', 'google:1234')).not.toBe(index);
    expect(blindIndex(randomBytesOf(32), 'oauth-subject', 'google:1234')).not.toBe(index);
    // NFKC: a fullwidth digit is the same value, not a way around a lookup.
    expect(blindIndex(key, 'oauth-subject', 'google:１234')).toBe(index);
    expect(keyedHash(key, 'x')).toMatch(/^[0-9a-f]{64}$/);
  });
});
