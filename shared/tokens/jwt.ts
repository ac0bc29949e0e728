/**
 * Access tokens: JWTs signed with Ed25519 (EdDSA), `typ: at+jwt` (RFC 9068), short-lived (10 minutes).
 * Verification follows RFC 8725: an explicit algorithm allow-list, `typ`, `iss`, `aud`, `exp`/`nbf` checks,
 * at most 30 s of clock skew, keys chosen by `kid` from our own key set only. Verified tokens are cached by
 * the SHA-256 of the token until they expire, so repeat verification costs microseconds; revocation is
 * checked separately on every request (the session), so the cache never delays it.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, errors, exportJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { sha256Hex } from '../crypto/hash.ts';
import { randomToken } from '../crypto/random.ts';
import type { UserRole } from '../db/schema.ts';
import type { AuthMethod } from '../identity/principal.ts';
import type { Permission } from '../identity/rbac.ts';

export const ACCESS_TOKEN_TTL_SECONDS = 10 * 60;
/** RFC 8725 3.1: only the algorithm we sign with. "none" and HMAC algorithms are never accepted. */
export const ALLOWED_ALGORITHMS = ['EdDSA'] as const;
export const CLOCK_SKEW_SECONDS = 30;
const TOKEN_TYPE = 'at+jwt';
const VERIFIED_CACHE_MAX = 50_000;

export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  role: UserRole;
  permissions: readonly Permission[];
  amr: readonly AuthMethod[];
  auth_time: number;
  /** Seconds since epoch of the last second-factor check in this session (absent when never). */
  sf_time?: number;
  iat: number;
  exp: number;
}

export type TokenFailure =
  | 'TOKEN_MALFORMED'
  | 'TOKEN_ALGORITHM_REJECTED'
  | 'TOKEN_KEY_UNKNOWN'
  | 'TOKEN_SIGNATURE_INVALID'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'TOKEN_CLAIMS_INVALID';

export type VerifyResult = { ok: true; claims: AccessClaims } | { ok: false; reason: TokenFailure };

export interface TokenSigner {
  issue(claims: Omit<AccessClaims, 'iat' | 'exp' | 'jti'>): Promise<{ token: string; expiresIn: number; jti: string }>;
  verify(token: string): Promise<VerifyResult>;
  /** The public keys (JWKS) for GET /.well-known/jwks.json. */
  jwks(): { keys: JWK[] };
  /**
   * Signs a document (e.g. a consent receipt) as a compact JWS with the current key; anyone can check it
   * against the JWKS. `typ` names the document type so it can never pass as an access token.
   */
  signDocument(payload: Record<string, unknown>, typ: string): Promise<string>;
}

interface LoadedKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: JWK;
}

async function loadKey(der: Buffer): Promise<LoadedKey> {
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256'); // RFC 7638: the kid is derived, never chosen
  return { kid, privateKey, publicKey, jwk: { ...jwk, kid, alg: 'EdDSA', use: 'sig' } };
}

/**
 * Creates the signer. The first key signs; every key in the list verifies (keep a retired key in the list
 * until the tokens it signed have expired: 10 minutes).
 */
export async function createTokenSigner(options: {
  signingKeys: readonly Buffer[];
  issuer: string;
  audience: string;
  now?: () => number;
}): Promise<TokenSigner> {
  if (options.signingKeys.length === 0) throw new Error('At least one signing key is needed');
  const keys = await Promise.all(options.signingKeys.map(loadKey));
  const byKid = new Map(keys.map((key) => [key.kid, key]));
  const signing = keys[0] as LoadedKey;
  const nowSeconds = () => Math.floor((options.now ?? Date.now)() / 1000);
  const verified = new Map<string, AccessClaims>();

  const remember = (hash: string, claims: AccessClaims) => {
    if (verified.size >= VERIFIED_CACHE_MAX) {
      // Drop expired entries first; if none, the oldest.
      const now = nowSeconds();
      for (const [key, value] of verified) if (value.exp <= now) verified.delete(key);
      if (verified.size >= VERIFIED_CACHE_MAX) verified.delete(verified.keys().next().value as string);
    }
    verified.set(hash, claims);
  };

  return {
    async issue(claims) {
      const iat = nowSeconds();
      const jti = randomToken(16);
      const token = await new SignJWT({ ...claims, jti })
        .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: signing.kid })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ACCESS_TOKEN_TTL_SECONDS)
        .sign(signing.privateKey);
      return { token, expiresIn: ACCESS_TOKEN_TTL_SECONDS, jti };
    },

    async verify(token) {
      if (token.length > 4096 || token.split('.').length !== 3) return { ok: false, reason: 'TOKEN_MALFORMED' };
      const hash = sha256Hex(token);
      const cached = verified.get(hash);
      const now = nowSeconds();
      if (cached) {
        if (cached.exp + CLOCK_SKEW_SECONDS > now) return { ok: true, claims: cached };
        verified.delete(hash);
        return { ok: false, reason: 'TOKEN_EXPIRED' };
      }
      let header: { alg?: unknown; kid?: unknown; typ?: unknown };
      try {
        header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
      } catch {
        return { ok: false, reason: 'TOKEN_MALFORMED' };
      }
      if (typeof header !== 'object' || header === null) return { ok: false, reason: 'TOKEN_MALFORMED' };
      if (!ALLOWED_ALGORITHMS.includes(header.alg as 'EdDSA')) return { ok: false, reason: 'TOKEN_ALGORITHM_REJECTED' };
      const key = typeof header.kid === 'string' ? byKid.get(header.kid) : undefined;
      if (!key) return { ok: false, reason: 'TOKEN_KEY_UNKNOWN' };
      try {
        const { payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [...ALLOWED_ALGORITHMS],
          issuer: options.issuer,
          audience: options.audience,
          typ: TOKEN_TYPE,
          clockTolerance: CLOCK_SKEW_SECONDS,
          currentDate: new Date(now * 1000),
          requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'auth_time'],
        });
        if (!Array.isArray(payload.permissions) || !Array.isArray(payload.amr) || typeof payload.role !== 'string') {
          return { ok: false, reason: 'TOKEN_CLAIMS_INVALID' };
        }
        const claims = payload as unknown as AccessClaims;
        remember(hash, claims);
        return { ok: true, claims };
      } catch (error) {
        if (error instanceof errors.JWTExpired) return { ok: false, reason: 'TOKEN_EXPIRED' };
        if (error instanceof errors.JWSSignatureVerificationFailed)
          return { ok: false, reason: 'TOKEN_SIGNATURE_INVALID' };
        if (error instanceof errors.JWTClaimValidationFailed) {
          return { ok: false, reason: error.claim === 'nbf' ? 'TOKEN_NOT_YET_VALID' : 'TOKEN_CLAIMS_INVALID' };
        }
        if (error instanceof errors.JOSEAlgNotAllowed) return { ok: false, reason: 'TOKEN_ALGORITHM_REJECTED' };
        return { ok: false, reason: 'TOKEN_MALFORMED' };
      }
    },

    jwks() {
      return { keys: keys.map((key) => key.jwk) };
    },

    async signDocument(payload, typ) {
      if (typ === TOKEN_TYPE) throw new Error('A document must not use the access-token type');
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'EdDSA', typ, kid: signing.kid })
        .setIssuer(options.issuer)
        .setIssuedAt(nowSeconds())
        .sign(signing.privateKey);
    },
  };
}
