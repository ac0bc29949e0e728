/**
 * Authentication and authorisation for every API route. Each route under /api/ declares the permission it
 * needs (or that it is public): a route that declares neither fails at registration, so it cannot ship
 * unprotected. Credentials: `Authorization: Bearer <access token | API key>` or `X-API-Key`.
 * 401 = no or bad credentials (with a specific code), 403 = authenticated but not allowed, 429 = an API key
 * over its own limit. A revoked session stops working at once: the session record is read on every request.
 */
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sha256Hex } from '#shared/crypto/hash.ts';
import type { ApiKeyAuthenticator, Principal } from '#shared/identity/principal.ts';
import { hasPermission } from '#shared/identity/principal.ts';
import { type Permission, permissionsOf } from '#shared/identity/rbac.ts';
import type { TokenSigner } from '#shared/tokens/jwt.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import { settleHook } from './hook-callback.ts';

/** How recent an admin's second factor must be on every admin route (the MFA issue's default: 10 minutes). */
export const ADMIN_STEP_UP_SECONDS = 600;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission this route needs. Every /api/ route declares one, or `public: true`. */
    permission?: Permission;
    /** Reachable without credentials (sign-in, refresh, JWKS). */
    public?: boolean;
    /** Needs a second factor verified within this many seconds (step-up). */
    stepUpSeconds?: number;
  }
  interface FastifyRequest {
    /** Who is calling; set for routes that declare a permission. */
    principal?: Principal;
  }
}

export interface AuthPluginOptions {
  signer: TokenSigner;
  sessions: SessionStore;
  apiKeys?: ApiKeyAuthenticator | undefined;
  /**
   * Called after each API-key check (metrics, the API-key stuffing scenario) with a short fingerprint of the
   * presented key (a hash prefix: tells keys apart, reveals nothing). Must not throw.
   */
  onApiKeyResult?: ((request: FastifyRequest, ok: boolean, fingerprint: string) => Promise<void> | void) | undefined;
}

/** Default step-up window (the MFA issue uses 10 minutes). */
export const DEFAULT_STEP_UP_SECONDS = 10 * 60;

const MESSAGES: Record<string, string> = {
  AUTH_REQUIRED: 'Sign in to use this endpoint.',
  AUTH_SCHEME_UNSUPPORTED: 'Use Authorization: Bearer <token> or X-API-Key.',
  TOKEN_MALFORMED: 'The access token is not valid.',
  TOKEN_ALGORITHM_REJECTED: 'The access token is not valid.',
  TOKEN_KEY_UNKNOWN: 'The access token is not valid.',
  TOKEN_SIGNATURE_INVALID: 'The access token is not valid.',
  TOKEN_CLAIMS_INVALID: 'The access token is not valid.',
  TOKEN_NOT_YET_VALID: 'The access token is not valid yet.',
  TOKEN_EXPIRED: 'The access token has expired: refresh it.',
  SESSION_REVOKED: 'This session has ended. Sign in again.',
  API_KEY_MALFORMED: 'The API key is not valid.',
  API_KEY_CHECKSUM_INVALID: 'The API key is not valid.',
  API_KEY_INVALID: 'The API key is not valid.',
  API_KEY_REVOKED: 'The API key has been revoked.',
  API_KEY_EXPIRED: 'The API key has expired.',
  API_KEY_OWNER_INACTIVE: 'The API key is not valid.',
};

function unauthorized(reply: FastifyReply, code: string) {
  // RFC 6750 3: tell the client which scheme and that the token was refused.
  reply.header('www-authenticate', `Bearer error="${code === 'AUTH_REQUIRED' ? 'invalid_request' : 'invalid_token'}"`);
  return reply.status(401).send({ error: { code, message: MESSAGES[code] ?? 'Not authorised.' } });
}

/** The credential presented, if any. */
function credentialOf(request: FastifyRequest): { value: string } | { error: 'AUTH_SCHEME_UNSUPPORTED' } | null {
  const header = request.headers.authorization;
  const apiKey = request.headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) {
    const match = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(header);
    return match?.[1] ? { value: match[1] } : { error: 'AUTH_SCHEME_UNSUPPORTED' };
  }
  if (typeof apiKey === 'string' && apiKey.length > 0) {
    return apiKey.length <= 200 ? { value: apiKey } : { error: 'AUTH_SCHEME_UNSUPPORTED' };
  }
  return null;
}

export const authPlugin = fp<AuthPluginOptions>(
  async (app: FastifyInstance, options) => {
    app.decorateRequest('principal', undefined);

    // A route under /api/ with no declared permission is a bug that would ship an open endpoint: refuse it.
    // Every admin route needs a recent second factor (step-up), whether or not it says so itself.
    app.addHook('onRoute', (route) => {
      if (!route.url.startsWith('/api/')) return;
      const config = (route.config ?? {}) as { permission?: Permission; public?: boolean; stepUpSeconds?: number };
      if (!config.permission && config.public !== true) {
        throw new Error(
          `Route ${String(route.method)} ${route.url} declares no permission (config.permission or config.public)`,
        );
      }
      if (config.permission?.startsWith('admin:') && config.stepUpSeconds === undefined) {
        config.stepUpSeconds = ADMIN_STEP_UP_SECONDS;
      }
    });

    // Callback style: a route that needs no permission (health checks, the webhook, static files) costs no
    // promise here; the rest go through `authenticate` (a sent reply stops the chain, as for any hook).
    app.addHook('onRequest', (request, reply, done) => {
      const config = request.routeOptions.config;
      const permission = config?.permission;
      if (!permission) {
        done();
        return;
      }
      settleHook(authenticate(request, reply, config, permission), done);
    });

    async function authenticate(
      request: FastifyRequest,
      reply: FastifyReply,
      config: FastifyContextConfig,
      permission: Permission,
    ): Promise<unknown> {
      const credential = credentialOf(request);
      if (!credential) return unauthorized(reply, 'AUTH_REQUIRED');
      if ('error' in credential) return unauthorized(reply, credential.error);

      let principal: Principal;
      if (options.apiKeys?.looksLikeKey(credential.value)) {
        const result = await options.apiKeys.authenticate(credential.value, request.ip);
        // A valid key over its own limit is not a bad key.
        const genuine = result.ok || result.reason === 'API_KEY_RATE_LIMITED';
        await options.onApiKeyResult?.(request, genuine, sha256Hex(credential.value).slice(0, 16));
        if (!result.ok) {
          if (result.reason === 'API_KEY_RATE_LIMITED') {
            reply.header('retry-after', String(result.retryAfterSeconds));
            return reply.status(429).send({
              error: { code: 'RATE_LIMITED', message: 'This API key is over its rate limit. Try again later.' },
            });
          }
          return unauthorized(reply, result.reason);
        }
        principal = result.principal;
      } else {
        const verified = await options.signer.verify(credential.value);
        if (!verified.ok) return unauthorized(reply, verified.reason);
        // The session is the source of truth for revocation, role and second-factor time.
        const session = await options.sessions.get(verified.claims.sid);
        if (!session || session.userId !== verified.claims.sub) return unauthorized(reply, 'SESSION_REVOKED');
        principal = {
          kind: 'user',
          userId: session.userId,
          role: session.role,
          permissions: permissionsOf(session.role),
          sessionId: session.id,
          amr: session.amr,
          authTime: session.authTime,
          secondFactorAt: session.secondFactorAt,
        };
      }
      request.principal = principal;

      if (!hasPermission(principal, permission)) {
        return reply
          .status(403)
          .send({ error: { code: 'PERMISSION_DENIED', message: `This needs the ${permission} permission.` } });
      }
      if (config.stepUpSeconds !== undefined) {
        const fresh =
          principal.kind === 'user' &&
          principal.secondFactorAt !== undefined &&
          Date.now() / 1000 - principal.secondFactorAt <= config.stepUpSeconds;
        if (!fresh) {
          return reply.status(403).send({
            error: {
              code: 'STEP_UP_REQUIRED',
              message: 'Confirm with your second factor (POST /api/v1/auth/step-up), then retry.',
              details: { maxAgeSeconds: config.stepUpSeconds },
            },
          });
        }
      }
      return undefined;
    }
  },
  { name: 'auth', dependencies: ['error-handler'] },
);
