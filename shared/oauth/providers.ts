/**
 * The three providers over one OAuth 2.0 client (oauth4webapi): authorization code flow with PKCE S256 and
 * `state`; Google is OpenID Connect (discovery, `nonce`, ID token checked against its JWKS); GitHub and
 * Discord are plain OAuth 2.0 followed by their user APIs. Every endpoint comes from config (the real
 * providers' by default), so tests and GitHub Enterprise point them elsewhere.
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { isAllowedOAuthEndpoint, type OAuthConfig } from '../config/index.ts';
import type { OAuthProviderId } from '../db/schema-oauth.ts';
import { DomainError } from '../errors.ts';
import { oauthError } from './errors.ts';

/** Who the provider says the person is (nothing else is kept). */
export interface OAuthIdentity {
  provider: OAuthProviderId;
  /** The provider's stable account id (`sub`, GitHub/Discord user id). Never the email. */
  subject: string;
  displayName: string | null;
  email: string | null;
  emailVerified: boolean;
}

export interface AuthorizationRequest {
  redirectUri: string;
  state: string;
  codeChallenge: string;
  /** OpenID Connect providers only. */
  nonce?: string;
}

export interface CallbackInput {
  redirectUri: string;
  /** The query parameters the provider redirected with. */
  parameters: URLSearchParams;
  expectedState: string;
  codeVerifier: string;
  nonce?: string;
}

export interface OAuthProvider {
  id: OAuthProviderId;
  /** Name shown to people. */
  name: string;
  /** True for OpenID Connect (a `nonce` is sent and an ID token required). */
  isOidc: boolean;
  /**
   * The URL to send the person's browser to.
   * @throws DomainError OAUTH_PROVIDER_ERROR / OAUTH_PROVIDER_TIMEOUT when discovery fails.
   */
  authorizationUrl(request: AuthorizationRequest): Promise<URL>;
  /**
   * Validates the provider's redirect, exchanges the code (with the PKCE verifier) and reads who the person is.
   * @throws DomainError with an OAUTH_* code for every refusal (never a bare Error for provider behaviour).
   */
  complete(input: CallbackInput): Promise<OAuthIdentity>;
}

export const PROVIDER_NAMES: Record<OAuthProviderId, string> = {
  google: 'Google',
  github: 'GitHub',
  discord: 'Discord',
};

/** What each provider is asked for: enough to name the account, nothing more (data minimisation). */
const SCOPES: Record<OAuthProviderId, string> = {
  google: 'openid email profile',
  github: 'read:user user:email',
  discord: 'identify email',
};

/** Longest user-info body read (GitHub's /user is about 1.5 KB). */
const MAX_PROFILE_BYTES = 256 * 1024;
/** Longest display name or email kept. */
const MAX_FIELD_LENGTH = 256;
/** Leeway for ID token times (seconds): clocks drift a little. */
const CLOCK_TOLERANCE_SECONDS = 30;

function isTimeout(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'TimeoutError' ||
      error.name === 'AbortError' ||
      error instanceof joseErrors.JWKSTimeout ||
      isTimeout((error as { cause?: unknown }).cause))
  );
}

/** Maps whatever a provider call threw to one of our codes. Our own DomainErrors pass through. */
function providerFailure(error: unknown, stage: 'authorize' | 'token' | 'profile' | 'id_token'): DomainError {
  if (error instanceof DomainError) return error;
  if (isTimeout(error)) return oauthError('OAUTH_PROVIDER_TIMEOUT');
  if (error instanceof oauth.AuthorizationResponseError) {
    return error.error === 'access_denied' ? oauthError('OAUTH_ACCESS_DENIED') : oauthError('OAUTH_PROVIDER_ERROR');
  }
  if (error instanceof oauth.ResponseBodyError) {
    // 4xx with an OAuth error body: the code, verifier or redirect URI was refused (RFC 6749 5.2).
    return error.status >= 500 ? oauthError('OAUTH_PROVIDER_ERROR') : oauthError('OAUTH_CODE_REJECTED');
  }
  if (stage === 'authorize' && error instanceof oauth.OperationProcessingError) {
    return oauthError('OAUTH_CALLBACK_INVALID');
  }
  if (stage === 'id_token' || error instanceof joseErrors.JOSEError) return oauthError('OAUTH_ID_TOKEN_INVALID');
  // oauth4webapi's ID token checks (iss, aud, azp, exp, iat, nonce): claim comparisons and timestamp checks.
  if (
    error instanceof oauth.OperationProcessingError &&
    (error.code === oauth.JWT_CLAIM_COMPARISON ||
      error.code === oauth.JWT_TIMESTAMP_CHECK ||
      /\bJWT\b|ID Token|"id_token"/.test(error.message))
  ) {
    return oauthError('OAUTH_ID_TOKEN_INVALID');
  }
  return oauthError('OAUTH_PROVIDER_ERROR');
}

function clip(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed.slice(0, MAX_FIELD_LENGTH);
}

interface ProviderRuntime {
  timeoutMs: number;
  isProduction: boolean;
}

function requestOptions(url: string, runtime: ProviderRuntime) {
  // http is accepted only for a loopback test provider outside production (config checked it; checked again).
  if (!isAllowedOAuthEndpoint(url, runtime.isProduction)) throw new Error(`OAuth endpoint not allowed: ${url}`);
  return {
    signal: AbortSignal.timeout(runtime.timeoutMs),
    [oauth.allowInsecureRequests]: url.startsWith('http:'),
  };
}

/** GET a provider API with the access token; the JSON body, or a DomainError. */
async function getJson(url: string, accessToken: string, headers: Record<string, string>, runtime: ProviderRuntime) {
  requestOptions(url, runtime);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { ...headers, authorization: `Bearer ${accessToken}` },
      signal: AbortSignal.timeout(runtime.timeoutMs),
      redirect: 'error',
    });
  } catch (error) {
    throw providerFailure(error, 'profile');
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw oauthError('OAUTH_PROVIDER_ERROR');
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw providerFailure(error, 'profile');
  }
  if (text.length > MAX_PROFILE_BYTES) throw oauthError('OAUTH_PROVIDER_ERROR');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw oauthError('OAUTH_PROVIDER_ERROR');
  }
}

interface Endpoints {
  as: oauth.AuthorizationServer;
  jwks?: ReturnType<typeof createRemoteJWKSet>;
}

function createProvider(
  id: OAuthProviderId,
  clientId: string,
  clientSecret: string,
  loadEndpoints: () => Promise<Endpoints>,
  readIdentity: (tokens: oauth.TokenEndpointResponse, endpoints: Endpoints, nonce?: string) => Promise<OAuthIdentity>,
  runtime: ProviderRuntime,
): OAuthProvider {
  const client: oauth.Client = { client_id: clientId, [oauth.clockTolerance]: CLOCK_TOLERANCE_SECONDS };
  // client_secret_post: what GitHub documents, and Google and Discord accept.
  const clientAuth = oauth.ClientSecretPost(clientSecret);
  const isOidc = id === 'google';
  return {
    id,
    name: PROVIDER_NAMES[id],
    isOidc,
    async authorizationUrl(request) {
      const { as } = await loadEndpoints();
      if (!as.authorization_endpoint) throw oauthError('OAUTH_PROVIDER_ERROR');
      const url = new URL(as.authorization_endpoint);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', clientId);
      url.searchParams.set('redirect_uri', request.redirectUri);
      url.searchParams.set('scope', SCOPES[id]);
      url.searchParams.set('state', request.state);
      url.searchParams.set('code_challenge', request.codeChallenge);
      url.searchParams.set('code_challenge_method', 'S256');
      if (isOidc && request.nonce) url.searchParams.set('nonce', request.nonce);
      return url;
    },
    async complete(input) {
      const endpoints = await loadEndpoints();
      const { as } = endpoints;
      let parameters: URLSearchParams;
      try {
        // Checks `state` (and `iss` when sent, RFC 9207) and turns `error=` redirects into a typed error.
        parameters = oauth.validateAuthResponse(as, client, input.parameters, input.expectedState);
      } catch (error) {
        throw providerFailure(error, 'authorize');
      }
      if (!as.token_endpoint) throw oauthError('OAUTH_PROVIDER_ERROR');
      let tokens: oauth.TokenEndpointResponse;
      try {
        const response = await oauth.authorizationCodeGrantRequest(
          as,
          client,
          clientAuth,
          parameters,
          input.redirectUri,
          input.codeVerifier,
          requestOptions(as.token_endpoint, runtime),
        );
        tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
          // OpenID Connect: the ID token must be there and carry our nonce (iss, aud, exp, iat checked too).
          ...(isOidc ? { expectedNonce: input.nonce ?? oauth.expectNoNonce, requireIdToken: true } : {}),
        });
      } catch (error) {
        throw providerFailure(error, 'token');
      }
      return readIdentity(tokens, endpoints, input.nonce);
    },
  };
}

/**
 * Builds the configured providers (those with credentials). Google's discovery document is fetched on first
 * use and kept; a failed fetch is retried on the next request.
 */
export function createProviders(
  config: OAuthConfig,
  options: { isProduction: boolean },
): Map<OAuthProviderId, OAuthProvider> {
  const runtime: ProviderRuntime = {
    timeoutMs: config.timeoutSeconds * 1000,
    isProduction: options.isProduction,
  };
  const providers = new Map<OAuthProviderId, OAuthProvider>();

  const { google, github, discord } = config;
  if (google) {
    let discovered: Promise<Endpoints> | undefined;
    const load = () => {
      discovered ??= (async () => {
        const issuer = new URL(google.issuer);
        try {
          const response = await oauth.discoveryRequest(issuer, {
            algorithm: 'oidc',
            ...requestOptions(issuer.href, runtime),
          });
          const as = await oauth.processDiscoveryResponse(issuer, response);
          if (!as.jwks_uri) throw oauthError('OAUTH_PROVIDER_ERROR');
          requestOptions(as.jwks_uri, runtime);
          const jwks = createRemoteJWKSet(new URL(as.jwks_uri), { timeoutDuration: runtime.timeoutMs });
          return { as, jwks };
        } catch (error) {
          throw providerFailure(error, 'token');
        }
      })();
      discovered.catch(() => {
        discovered = undefined;
      });
      return discovered;
    };
    providers.set(
      'google',
      createProvider(
        'google',
        google.clientId,
        google.clientSecret,
        load,
        async (tokens, endpoints, nonce) => {
          const idToken = tokens.id_token;
          if (!idToken || !endpoints.jwks) throw oauthError('OAUTH_ID_TOKEN_INVALID');
          try {
            // oauth4webapi checked the claims; the signature is checked here against the provider's JWKS.
            const { payload } = await jwtVerify(idToken, endpoints.jwks, {
              issuer: endpoints.as.issuer,
              audience: google.clientId,
              algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
              clockTolerance: CLOCK_TOLERANCE_SECONDS,
              requiredClaims: ['sub', 'exp', 'iat'],
            });
            if (nonce === undefined || payload.nonce !== nonce) throw oauthError('OAUTH_ID_TOKEN_INVALID');
            const subject = clip(payload.sub);
            if (!subject) throw oauthError('OAUTH_ID_TOKEN_INVALID');
            return {
              provider: 'google',
              subject,
              displayName: clip(payload.name),
              email: clip(payload.email),
              emailVerified: payload.email_verified === true,
            };
          } catch (error) {
            throw isTimeout(error) ? oauthError('OAUTH_PROVIDER_TIMEOUT') : providerFailure(error, 'id_token');
          }
        },
        runtime,
      ),
    );
  }

  const fixed = (authorizationUrl: string, tokenUrl: string) => {
    // Plain OAuth 2.0 has no issuer; the authorization server's origin stands in (checked against `iss` if sent).
    const endpoints: Endpoints = {
      as: {
        issuer: new URL(authorizationUrl).origin,
        authorization_endpoint: authorizationUrl,
        token_endpoint: tokenUrl,
      },
    };
    return async () => endpoints;
  };

  if (github) {
    const headers = {
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'tg-security-platform', // GitHub refuses API requests without a User-Agent
    };
    providers.set(
      'github',
      createProvider(
        'github',
        github.clientId,
        github.clientSecret,
        fixed(github.authorizationUrl, github.tokenUrl),
        async (tokens) => {
          const user = (await getJson(`${github.apiUrl}/user`, tokens.access_token, headers, runtime)) as Record<
            string,
            unknown
          >;
          const id = user?.id;
          if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) throw oauthError('OAUTH_PROVIDER_ERROR');
          const emails = await getJson(`${github.apiUrl}/user/emails`, tokens.access_token, headers, runtime);
          // The primary address, if GitHub verified it; otherwise the first verified one; otherwise none.
          const list = Array.isArray(emails) ? (emails as Record<string, unknown>[]) : [];
          const verified = list.filter((entry) => entry?.verified === true && typeof entry.email === 'string');
          const chosen = verified.find((entry) => entry.primary === true) ?? verified[0];
          return {
            provider: 'github',
            subject: String(id),
            displayName: clip(user.name) ?? clip(user.login),
            email: clip(chosen?.email),
            emailVerified: chosen !== undefined,
          };
        },
        runtime,
      ),
    );
  }

  if (discord) {
    providers.set(
      'discord',
      createProvider(
        'discord',
        discord.clientId,
        discord.clientSecret,
        fixed(discord.authorizationUrl, discord.tokenUrl),
        async (tokens) => {
          const user = (await getJson(
            `${discord.apiUrl}/users/@me`,
            tokens.access_token,
            { accept: 'application/json' },
            runtime,
          )) as Record<string, unknown>;
          const id = user?.id;
          // Discord ids are snowflakes: decimal strings up to 20 digits.
          if (typeof id !== 'string' || !/^[0-9]{1,20}$/.test(id)) throw oauthError('OAUTH_PROVIDER_ERROR');
          const email = clip(user.email);
          return {
            provider: 'discord',
            subject: id,
            displayName: clip(user.global_name) ?? clip(user.username),
            email,
            emailVerified: email !== null && user.verified === true,
          };
        },
        runtime,
      ),
    );
  }
  return providers;
}
