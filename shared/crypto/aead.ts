/**
 * Authenticated encryption for stored fields: AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce and
 * associated data that binds each ciphertext to where it lives.
 *
 * Envelope format (version 1), like Tink's key-id prefix:
 *   [0x01 version][4-byte key id, big-endian][12-byte nonce][ciphertext][16-byte tag]
 * The 5-byte header is authenticated too (it is prepended to the associated data), so a ciphertext cannot be
 * relabelled with another key id or version.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBytesOf } from './random.ts';

export const ENVELOPE_VERSION = 1;
export const KEY_BYTES = 32; // AES-256
export const NONCE_BYTES = 12; // 96-bit nonce, the GCM default (SP 800-38D 8.2)
export const TAG_BYTES = 16; // full 128-bit tag
const HEADER_BYTES = 5;
/** Random 96-bit nonces stay safe for 2^32 messages per key (SP 800-38D 8.3); rotate keys well before. */
export const MAX_MESSAGES_PER_KEY = 2 ** 32;

/** Thrown when a ciphertext fails authentication: altered, truncated, or opened with the wrong key or context. */
export class DecryptionError extends Error {
  constructor(message = 'The ciphertext could not be authenticated') {
    super(message);
    this.name = 'DecryptionError';
  }
}

/** Raw AES-256-GCM with an explicit nonce (for test vectors; callers use {@link sealEnvelope}). */
export function aesGcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): { ciphertext: Buffer; tag: Buffer } {
  if (key.length !== KEY_BYTES) throw new Error('AES-256-GCM needs a 32-byte key');
  if (nonce.length !== NONCE_BYTES) throw new Error('AES-256-GCM needs a 12-byte nonce');
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

/**
 * Raw AES-256-GCM decryption.
 * @throws DecryptionError when the tag does not verify.
 */
export function aesGcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad: Uint8Array,
): Buffer {
  if (key.length !== KEY_BYTES) throw new Error('AES-256-GCM needs a 32-byte key');
  if (tag.length !== TAG_BYTES) throw new DecryptionError('The tag has the wrong length');
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}

function header(keyId: number): Buffer {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff) throw new Error('key id must be a uint32');
  const bytes = Buffer.alloc(HEADER_BYTES);
  bytes.writeUInt8(ENVELOPE_VERSION, 0);
  bytes.writeUInt32BE(keyId, 1);
  return bytes;
}

/** Associated data naming where a value is stored, so a copy elsewhere fails to open. */
export function fieldAad(table: string, column: string, rowId: string): Buffer {
  // Length-prefixed parts: ("ab","c") and ("a","bc") must not collide.
  const parts = [table, column, rowId].map((part) => Buffer.from(part, 'utf8'));
  return Buffer.concat(
    parts.flatMap((part) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(part.length);
      return [length, part];
    }),
  );
}

/**
 * Seals `plaintext` under `key` (identified by `keyId`) with associated data `aad`.
 * @example sealEnvelope(key, 3, Buffer.from('secret'), fieldAad('users', 'email', id))
 */
export function sealEnvelope(key: Uint8Array, keyId: number, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const head = header(keyId);
  const nonce = randomBytesOf(NONCE_BYTES);
  const { ciphertext, tag } = aesGcmEncrypt(key, nonce, plaintext, Buffer.concat([head, aad]));
  return Buffer.concat([head, nonce, ciphertext, tag]);
}

/** The key id and version named in an envelope's header, without opening it. */
export function readEnvelope(sealed: Uint8Array): { version: number; keyId: number } {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (bytes.length < HEADER_BYTES + NONCE_BYTES + TAG_BYTES) throw new DecryptionError('The ciphertext is truncated');
  const version = bytes.readUInt8(0);
  if (version !== ENVELOPE_VERSION) throw new DecryptionError(`Unknown envelope version ${version}`);
  return { version, keyId: bytes.readUInt32BE(1) };
}

/**
 * Opens an envelope made by {@link sealEnvelope}.
 * @throws DecryptionError when it was altered, is truncated, or the key or associated data differ.
 */
export function openEnvelope(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  readEnvelope(sealed);
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const head = bytes.subarray(0, HEADER_BYTES);
  const nonce = bytes.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const ciphertext = bytes.subarray(HEADER_BYTES + NONCE_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  return aesGcmDecrypt(key, nonce, ciphertext, tag, Buffer.concat([head, aad]));
}
