/**
 * The OAuth flows: linking a provider account to the signed-in person, and signing in with a linked account
 * from an external web client. Each authorization request gets a random single-use `state` (10 minutes) whose
 * hash keys the server-side record of what it was for: the person it is bound to, the PKCE verifier and the
 * OpenID `nonce`. Nothing the browser carries can change that record; the callback takes it with GETDEL, so a
 * replayed or forged callback finds nothing.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import * as oauth from 'oauth4webapi';
import { hashToken } from '../crypto/hash.ts';
import { constantTimeEqual, randomToken } from '../crypto/random.ts';
import { OAUTH_PROVIDER_IDS, type OAuthProviderId } from '../db/schema-oauth.ts';
import { isDomainError } from '../errors.ts';
import { type OAuthErrorCode, oauthError } from './errors.ts';
import type { LinkStore } from './links.ts';
import type { OAuthProvider } from './providers.ts';

/** How long an authorization request may take, from the app's tap to the provider's redirect. */
export const STATE_TTL_SECONDS = 10 * 60;
/** How long a sign-in client has to redeem its one-time code (it does so at once, in the same page load). */
export const EXCHANGE_CODE_TTL_SECONDS = 60;
/** Our `state` values are 32 random bytes, base64url: anything else is not ours and is not looked up. */
const STATE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 4.2: an S256 challenge is 43 base64url characters. */
export const CODE_CHALLENGE_PATTERN = '^[A-Za-z0-9_-]{43}$';

/** What a `state` stands for, stored in Redis under the state's hash. */
export type PendingAuthorization =
  | {
      purpose: 'link';
      provider: OAuthProviderId;
      /** The signed-in person who asked to link: the link goes to them, whoever's browser finishes. */
      userId: string;
      codeVerifier: string;
      nonce?: string;
      createdAt: number;
    }
  | {
      purpose: 'sign_in';
      provider: OAuthProviderId;
      codeVerifier: string;
      nonce?: string;
      /** Where the client gets its one-time code back (validated: loopback or configured). */
      clientRedirectUri: string;
      clientState?: string;
      /** S256 challenge of the verifier the client keeps: only it can redeem the code. */
      clientCodeChallenge: string;
      createdAt: number;
    };

export type CallbackOutcome =
  | {
      ok: true;
      kind: 'linked';
      userId: string;
      provider: OAuthProviderId;
      linkId: string;
      isNew: boolean;
    }
  | { ok: true; kind: 'sign_in'; userId: string; provider: OAuthProviderId; redirectTo: string }
  | { ok: false; code: OAuthErrorCode; pending?: PendingAuthorization };

export interface OAuthServiceDeps {
  redis: Redis;
  /** The deployment's Redis key prefix. */
  prefix: string;
  /** Configured providers only. */
  providers: ReadonlyMap<OAuthProviderId, OAuthProvider>;
  links: LinkStore;
  /** PUBLIC_URL: redirect URIs are `${publicUrl}/api/v1/oauth/:provider/callback`. */
  publicUrl: string | undefined;
  /** Exact redirect URIs sign-in clients may use besides loopback ones. */
  signInRedirectUris: readonly string[];
  now?: () => number;
}

export interface OAuthService {
  /** The offered providers, in a fixed order. */
  offered(): OAuthProvider[];
  /**
   * The provider named by a route parameter.
   * @throws DomainError OAUTH_PROVIDER_UNKNOWN for an unknown or unconfigured provider.
   */
  provider(id: string): OAuthProvider;
  /** The exact redirect URI registered at the provider. */
  redirectUri(id: OAuthProviderId): string;
  /** Starts linking `provider` to `userId`; the URL to open in the browser. */
  startLink(userId: string, providerId: string): Promise<{ authorizationUrl: string }>;
  /**
   * Starts a sign-in for an external client.
   * @throws DomainError OAUTH_REDIRECT_URI_NOT_ALLOWED
   */
  startSignIn(
    providerId: string,
    client: { redirectUri: string; codeChallenge: string; state?: string },
  ): Promise<{ authorizationUrl: string }>;
  /** Handles the provider's redirect. Every refusal is an outcome with a code, never a throw. */
  handleCallback(providerId: string, parameters: URLSearchParams): Promise<CallbackOutcome>;
  /**
   * Redeems a sign-in client's one-time code with the verifier only it holds. Single use: a wrong verifier
   * burns the code.
   * @throws DomainError OAUTH_EXCHANGE_INVALID
   */
  redeemSignIn(input: { code: string; codeVerifier: string }): Promise<{ userId: string; provider: OAuthProviderId }>;
}

/** RFC 7636 S256: base64url(SHA-256(verifier)). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/**
 * True for a redirect URI an external sign-in client may use: one listed in OAUTH_SIGNIN_REDIRECT_URIS, or a
 * loopback IP literal over http with any port (RFC 8252 7.3: only software on the same machine can listen there).
 */
export function isAllowedClientRedirect(uri: string, allowed: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.hash !== '' || url.username !== '' || url.password !== '') return false;
  if (allowed.includes(uri)) return true;
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === '[::1]');
}

function isProviderId(value: string): value is OAuthProviderId {
  return (OAUTH_PROVIDER_IDS as readonly string[]).includes(value);
}

export function createOAuthService(deps: OAuthServiceDeps): OAuthService {
  const { redis, providers, links } = deps;
  const now = deps.now ?? Date.now;
  // Only the hash of a state or code is a key: a Redis dump or MONITOR shows nothing that can be replayed.
  const stateKey = (state: string) => `${deps.prefix}:oauth:state:${hashToken(state)}`;
  const exchangeKey = (code: string) => `${deps.prefix}:oauth:exchange:${hashToken(code)}`;

  const provider = (id: string): OAuthProvider => {
    const found = isProviderId(id) ? providers.get(id) : undefined;
    if (!found) throw oauthError('OAUTH_PROVIDER_UNKNOWN');
    return found;
  };
  const redirectUri = (id: OAuthProviderId) => {
    if (!deps.publicUrl) throw new Error('PUBLIC_URL is required for OAuth (config checks this)');
    return `${deps.publicUrl}/api/v1/oauth/${id}/callback`;
  };

  async function begin(
    chosen: OAuthProvider,
    pending: (codeVerifier: string, nonce: string | undefined) => PendingAuthorization,
  ) {
    const state = randomToken(32);
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const nonce = chosen.isOidc ? randomToken(32) : undefined;
    const url = await chosen.authorizationUrl({
      redirectUri: redirectUri(chosen.id),
      state,
      codeChallenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      ...(nonce ? { nonce } : {}),
    });
    await redis.set(stateKey(state), JSON.stringify(pending(codeVerifier, nonce)), 'EX', STATE_TTL_SECONDS);
    return { authorizationUrl: url.href };
  }

  /** Takes (and so consumes) the record of a state; undefined when unknown, used or expired. */
  async function take(state: string | null): Promise<PendingAuthorization | undefined> {
    if (!state || !STATE_PATTERN.test(state)) return undefined;
    const raw = await redis.getdel(stateKey(state));
    if (!raw) return undefined;
    const pending = JSON.parse(raw) as PendingAuthorization;
    // Redis expiry is the main clock; this also refuses a record whose TTL was lost (e.g. a restore).
    if (now() - pending.createdAt > STATE_TTL_SECONDS * 1000) return undefined;
    return pending;
  }

  return {
    offered: () => OAUTH_PROVIDER_IDS.flatMap((id) => providers.get(id) ?? []),
    provider,
    redirectUri,

    async startLink(userId, providerId) {
      const chosen = provider(providerId);
      return begin(chosen, (codeVerifier, nonce) => ({
        purpose: 'link',
        provider: chosen.id,
        userId,
        codeVerifier,
        ...(nonce ? { nonce } : {}),
        createdAt: now(),
      }));
    },

    async startSignIn(providerId, client) {
      const chosen = provider(providerId);
      // Without this check anyone could start a sign-in that delivers a victim's code to their own site.
      if (!isAllowedClientRedirect(client.redirectUri, deps.signInRedirectUris)) {
        throw oauthError('OAUTH_REDIRECT_URI_NOT_ALLOWED');
      }
      return begin(chosen, (codeVerifier, nonce) => ({
        purpose: 'sign_in',
        provider: chosen.id,
        codeVerifier,
        ...(nonce ? { nonce } : {}),
        clientRedirectUri: client.redirectUri,
        ...(client.state !== undefined ? { clientState: client.state } : {}),
        clientCodeChallenge: client.codeChallenge,
        createdAt: now(),
      }));
    },

    async handleCallback(providerId, parameters) {
      let chosen: OAuthProvider;
      try {
        chosen = provider(providerId);
      } catch {
        return { ok: false, code: 'OAUTH_PROVIDER_UNKNOWN' };
      }
      const state = parameters.get('state');
      const pending = await take(state);
      // Missing, forged, reused or expired state: nothing is exchanged, whatever `code` says.
      if (!pending || !state) return { ok: false, code: 'OAUTH_STATE_INVALID' };
      // A state issued for another provider is spent here and refused (no cross-provider code injection).
      if (pending.provider !== chosen.id) return { ok: false, code: 'OAUTH_STATE_INVALID', pending };
      // The verifier is ours alone; a record without one (or an OIDC record without a nonce) is not usable.
      if (!pending.codeVerifier || (chosen.isOidc && !pending.nonce)) {
        return { ok: false, code: 'OAUTH_STATE_INVALID', pending };
      }
      try {
        const identity = await chosen.complete({
          redirectUri: redirectUri(chosen.id),
          parameters,
          expectedState: state,
          codeVerifier: pending.codeVerifier,
          ...(pending.nonce ? { nonce: pending.nonce } : {}),
        });
        if (pending.purpose === 'link') {
          const { linkId, isNew } = await links.link(pending.userId, identity);
          return { ok: true, kind: 'linked', userId: pending.userId, provider: chosen.id, linkId, isNew };
        }
        // Sign-in: only an account someone already linked; never a new person, never a match by email.
        const userId = await links.findUserId(chosen.id, identity.subject);
        if (!userId) return { ok: false, code: 'OAUTH_ACCOUNT_UNKNOWN', pending };
        const code = randomToken(32);
        await redis.set(
          exchangeKey(code),
          JSON.stringify({ userId, provider: chosen.id, challenge: pending.clientCodeChallenge }),
          'EX',
          EXCHANGE_CODE_TTL_SECONDS,
        );
        const target = new URL(pending.clientRedirectUri);
        target.searchParams.set('code', code);
        if (pending.clientState !== undefined) target.searchParams.set('state', pending.clientState);
        return { ok: true, kind: 'sign_in', userId, provider: chosen.id, redirectTo: target.href };
      } catch (error) {
        if (isDomainError(error) && error.code.startsWith('OAUTH_')) {
          return { ok: false, code: error.code as OAuthErrorCode, pending };
        }
        throw error;
      }
    },

    async redeemSignIn(input) {
      const raw = await redis.getdel(exchangeKey(input.code));
      if (!raw) throw oauthError('OAUTH_EXCHANGE_INVALID');
      const stored = JSON.parse(raw) as { userId: string; provider: OAuthProviderId; challenge: string };
      // Only the client that started the sign-in holds the verifier (RFC 7636 applied to our own code).
      if (!constantTimeEqual(s256(input.codeVerifier), stored.challenge)) throw oauthError('OAUTH_EXCHANGE_INVALID');
      return { userId: stored.userId, provider: stored.provider };
    },
  };
}
