/**
 * Who is making a request, after authentication: a signed-in person (through a session) or an external
 * client (through an API key). Everything downstream checks permissions on this, never on raw credentials.
 */
import type { UserRole } from '../db/schema.ts';
import type { Permission } from './rbac.ts';

/**
 * Authentication methods (RFC 8176 `amr` values we use). A sign-in with a linked account names its provider
 * ('google' | 'github' | 'discord'), so a session shows which outside account opened it.
 */
export type AuthMethod = 'tg' | 'oauth' | 'otp' | 'hwk' | 'test' | 'google' | 'github' | 'discord';

export type Principal =
  | {
      kind: 'user';
      userId: string;
      role: UserRole;
      permissions: readonly Permission[];
      sessionId: string;
      amr: readonly AuthMethod[];
      /** When the person last proved who they are (seconds since epoch): step-up checks this. */
      authTime: number;
      /** When a second factor was last verified in this session (seconds since epoch), if ever. */
      secondFactorAt: number | undefined;
    }
  | {
      kind: 'api_key';
      userId: string;
      role: UserRole;
      keyId: string;
      /** The key's scopes, already narrowed to what its owner's role allows. */
      permissions: readonly Permission[];
    };

export function hasPermission(principal: Principal, permission: Permission): boolean {
  return principal.permissions.includes(permission);
}

/** Why an API key was refused (401), or limited (429: never 401 for a valid key over its limit). */
export type ApiKeyFailure =
  | 'API_KEY_MALFORMED'
  | 'API_KEY_CHECKSUM_INVALID'
  | 'API_KEY_INVALID'
  | 'API_KEY_REVOKED'
  | 'API_KEY_EXPIRED'
  | 'API_KEY_OWNER_INACTIVE';

export type ApiKeyAuthResult =
  | { ok: true; principal: Extract<Principal, { kind: 'api_key' }> }
  | { ok: false; reason: ApiKeyFailure }
  | { ok: false; reason: 'API_KEY_RATE_LIMITED'; retryAfterSeconds: number };

/** Checks an API key presented as `Authorization: Bearer <key>` or `X-API-Key` (implemented by `shared/api-keys`). */
export interface ApiKeyAuthenticator {
  /** True when `value` has the shape of one of our keys (prefix), so the bearer value is not tried as a JWT. */
  looksLikeKey(value: string): boolean;
  /** Verifies the key (checksum first, before any database lookup), applies its own rate limit, records use. */
  authenticate(key: string, ip: string): Promise<ApiKeyAuthResult>;
}
