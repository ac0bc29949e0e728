/**
 * A key must be unguessable and recognisable: an attacker who could predict or bias the random part could
 * forge keys, and a key without a fixed prefix and checksum cannot be told from a JWT, found by secret
 * scanners, or rejected cheaply when mistyped or invented.
 */
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  API_KEY_BODY_LENGTH,
  API_KEY_LENGTH,
  API_KEY_PREFIX,
  apiKeyChecksum,
  apiKeyDisplayPrefix,
  BASE62_ALPHABET,
  generateApiKey,
  looksLikeApiKey,
  parseApiKey,
  randomBase62,
} from '#shared/api-keys/index.ts';

const KEY_PATTERN = /^tsp_[0-9A-Za-z]{36}$/;

describe('API key format', () => {
  it('is tsp_ + 30 base62 characters (≥ 160 bits) + a 6-character checksum', () => {
    expect(API_KEY_BODY_LENGTH * Math.log2(62)).toBeGreaterThanOrEqual(160);
    expect(BASE62_ALPHABET).toHaveLength(62);
    expect(new Set(BASE62_ALPHABET).size).toBe(62);
    for (let index = 0; index < 200; index++) {
      const key = generateApiKey();
      expect(key).toMatch(KEY_PATTERN);
      expect(key).toHaveLength(API_KEY_LENGTH);
      expect(parseApiKey(key)).toEqual({ ok: true });
      expect(looksLikeApiKey(key)).toBe(true);
    }
  });

  it('never repeats a key', () => {
    const keys = new Set(Array.from({ length: 20_000 }, () => generateApiKey()));
    expect(keys.size).toBe(20_000);
  });

  it('draws every base62 character equally often (rejection sampling: no modulo bias)', () => {
    const counts = new Map<string, number>([...BASE62_ALPHABET].map((char) => [char, 0]));
    const samples = 124_000;
    for (const char of randomBase62(samples)) counts.set(char, (counts.get(char) ?? 0) + 1);
    const expected = samples / 62;
    const chiSquare = [...counts.values()].reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
    // 61 degrees of freedom: P(χ² > 130) ≈ 1e-6 for a uniform source. `byte % 62` over 0..255 gives the first
    // eight characters 5/4 of the others’ weight: χ² ≈ 800 at this sample size.
    expect(chiSquare).toBeLessThan(130);
    const firstEight = [...BASE62_ALPHABET.slice(0, 8)].reduce((sum, char) => sum + (counts.get(char) ?? 0), 0);
    expect(firstEight / samples).toBeCloseTo(8 / 62, 2);
  });

  it('computes the checksum as CRC32 (the published check value) in base62 over prefix and body', () => {
    expect(crc32('123456789')).toBe(0xcbf43926); // the CRC-32/ISO-HDLC check value
    // 3421780262 = 3·62^5 + 45·62^4 + 35·62^3 + 27·62^2 + 22·62 + 14 → digits 3, j, Z, R, M, E
    expect(apiKeyChecksum('123456789')).toBe('3jZRME');
    expect(apiKeyChecksum('')).toBe('000000');
    const key = generateApiKey();
    expect(key.slice(-6)).toBe(apiKeyChecksum(key.slice(0, -6)));
  });

  it('rejects every single-character change of a key by its checksum', () => {
    const key = generateApiKey();
    for (let position = API_KEY_PREFIX.length; position < key.length; position++) {
      for (const char of BASE62_ALPHABET) {
        if (char === key[position]) continue;
        const typo = key.slice(0, position) + char + key.slice(position + 1);
        expect(parseApiKey(typo)).toEqual({ ok: false, reason: 'API_KEY_CHECKSUM_INVALID' });
      }
    }
  });

  it('refuses the wrong prefix, length or characters as malformed', () => {
    const key = generateApiKey();
    for (const bad of [
      '',
      key.slice(0, -1),
      `${key}0`,
      `ghp_${key.slice(4)}`,
      `tsp-${key.slice(4)}`,
      `${key.slice(0, 10)}_${key.slice(11)}`,
      `${key.slice(0, 10)} ${key.slice(11)}`,
      `${key.slice(0, 10)}é${key.slice(11)}`,
      'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2ln',
    ]) {
      expect(parseApiKey(bad), bad).toEqual({ ok: false, reason: 'API_KEY_MALFORMED' });
    }
    expect(looksLikeApiKey('eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2ln')).toBe(false);
  });

  it('displays only the first 8 and last 4 characters', () => {
    const key = generateApiKey();
    const shown = apiKeyDisplayPrefix(key);
    expect(shown).toBe(`${key.slice(0, 8)}…${key.slice(-4)}`);
    expect(shown.replace('…', '').length).toBe(12);
  });
});
