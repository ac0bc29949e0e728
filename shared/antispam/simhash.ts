/**
 * Near-duplicate fingerprints: a 64-bit SimHash over the words and word pairs of a message's skeleton. Two texts that
 * differ by a few words (an emoji, a changed link, a name) land within a few bits of each other, so the same
 * spam posted with small edits across chats is still recognised.
 */
import { words } from './normalize.ts';

const MASK64 = (1n << 64n) - 1n;
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/** FNV-1a, 64 bits, over the UTF-16 code units of `text`. */
export function fnv1a64(text: string): bigint {
  let hash = FNV_OFFSET;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= BigInt(text.charCodeAt(index));
    hash = (hash * FNV_PRIME) & MASK64;
  }
  return hash;
}

/**
 * The features a fingerprint is built from: every word and every pair of neighbouring words. Single words
 * keep the fingerprint stable when a few words change; pairs keep word order mattering.
 */
export function shingles(skel: string): string[] {
  const list = words(skel);
  const out = [...list];
  for (let index = 0; index + 1 < list.length; index += 1) out.push(`${list[index]} ${list[index + 1]}`);
  return out;
}

/** The SimHash of a skeleton as 16 hex digits ('' for an empty text). */
export function simhash(skel: string): string {
  const parts = shingles(skel);
  if (parts.length === 0) return '';
  const weights = new Array<number>(64).fill(0);
  for (const part of parts) {
    const hash = fnv1a64(part);
    for (let bit = 0; bit < 64; bit += 1) weights[bit] = (weights[bit] ?? 0) + ((hash >> BigInt(bit)) & 1n ? 1 : -1);
  }
  let value = 0n;
  for (let bit = 0; bit < 64; bit += 1) if ((weights[bit] ?? 0) > 0) value |= 1n << BigInt(bit);
  return value.toString(16).padStart(16, '0');
}

/** Bits that differ between two fingerprints (64 when either is empty). */
export function hammingDistance(a: string, b: string): number {
  if (a === '' || b === '') return 64;
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let count = 0;
  while (x > 0n) {
    x &= x - 1n;
    count += 1;
  }
  return count;
}

/** Bands a fingerprint is split into for lookups, 8 bits each. */
export const BAND_COUNT = 8;

/**
 * The eight 8-bit bands of a fingerprint. Two fingerprints within 7 bits share at least one band exactly
 * (pigeonhole), and most within 10 do, so a store finds near-duplicates by exact band lookups.
 */
export function bands(fingerprint: string): string[] {
  if (fingerprint === '') return [];
  return Array.from({ length: BAND_COUNT }, (_, band) => `${band}${fingerprint.slice(band * 2, band * 2 + 2)}`);
}
