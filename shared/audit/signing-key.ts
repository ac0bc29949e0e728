/**
 * The key that signs audit checkpoints: an Ed25519 key derived from the master key, so every process of a
 * deployment signs with the same key and no second secret has to be stored or rotated separately.
 */
import { createHash, createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';

/** HKDF-SHA256 `info` for the checkpoint seed (RFC 5869): a different purpose string gives an unrelated key. */
export const AUDIT_SIGNING_KEY_INFO = 'audit-checkpoint-signing-v1';
/** Ed25519 private keys are 32-byte seeds (RFC 8032 5.1.5). */
const ED25519_SEED_BYTES = 32;
/** PKCS#8 DER header of an Ed25519 private key (RFC 8410): the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 key pair with its key id. */
export interface AuditSigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** RFC 7638 JWK thumbprint of the public key (base64url SHA-256), stored with every checkpoint. */
  keyId: string;
}

/**
 * The RFC 7638 thumbprint of an Ed25519 public key: SHA-256 of `{"crv":"Ed25519","kty":"OKP","x":…}`.
 * @throws Error when the key is not an Ed25519 key.
 */
export function ed25519KeyId(publicKey: KeyObject): string {
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error('Audit checkpoints are signed with Ed25519 keys');
  const jwk = publicKey.export({ format: 'jwk' });
  // Required members only, in lexicographic order, no whitespace (RFC 7638 section 3).
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical).digest('base64url');
}

/**
 * Builds the Ed25519 key pair of a 32-byte seed.
 * @throws Error when the seed is not 32 bytes.
 */
export function ed25519FromSeed(seed: Uint8Array): AuditSigningKey {
  if (seed.length !== ED25519_SEED_BYTES) throw new Error('An Ed25519 seed is 32 bytes');
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: ed25519KeyId(publicKey) };
}

/**
 * The deployment's checkpoint signing key: seed = HKDF-SHA256(master key, no salt, {@link AUDIT_SIGNING_KEY_INFO}).
 * Verifiers need only `publicKey`.
 * @throws Error when the master key is not 32 bytes.
 * @example const { publicKey } = deriveAuditSigningKey(secrets.masterKey);
 */
export function deriveAuditSigningKey(masterKey: Uint8Array): AuditSigningKey {
  if (masterKey.length !== 32) throw new Error('The master key must be 32 bytes');
  const seed = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), AUDIT_SIGNING_KEY_INFO, ED25519_SEED_BYTES));
  return ed25519FromSeed(seed);
}
