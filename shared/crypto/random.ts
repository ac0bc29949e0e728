/**
 * Tiny security primitives shared by every capability: randomness and constant-time comparison.
 * Never use Math.random for anything secret.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Random bytes from the OS CSPRNG. */
export function randomBytesOf(length: number): Buffer {
  return randomBytes(length);
}

/** A random URL-safe token of `bytes` bytes of entropy (default 32 = 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Compares two secrets in constant time (for equal lengths; a length mismatch returns false at once,
 * which reveals only the length).
 */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const left = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
  const right = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}
