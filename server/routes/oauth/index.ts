/**
 * Linked accounts (Google, GitHub, Discord): list, link, unlink, the provider callback (an HTML page), and
 * sign-in with a linked account for external web clients (start → provider → callback → one-time code
 * redeemed with the client's own PKCE verifier → the same token pair as Telegram sign-in, or the MFA challenge).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import { findUserById } from '#shared/identity/users.ts';
import { CODE_CHALLENGE_PATTERN, type OAuth, OAuthErrors, oauthError, PROVIDER_NAMES } from '#shared/oauth/index.ts';
import type { Notify } from '../../notify.ts';
import { completeSignIn, type SignInDeps } from '../auth/sign-in.ts';
import { errorPage, linkedPage } from './pages.ts';

export interface OAuthRoutesOptions {
  db: Db;
  oauth: OAuth;
  audit: AuditLog;
  notify: Notify;
  /** What completing a sign-in needs (sessions, signer, MFA): the same function Telegram sign-in uses. */
  signIn: SignInDeps;
}

/** Request bodies here are a few hundred bytes. */
const OAUTH_BODY_LIMIT_BYTES = 4 * 1024;

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});
const ProviderParams = Type.Object(
  { provider: Type.String({ minLength: 1, maxLength: 20, pattern: '^[a-z]+$' }) },
  { additionalProperties: false },
);
const HtmlPage = Type.String({ description: 'An HTML page (text/html)' });
const ProviderId = Type.Union([Type.Literal('google'), Type.Literal('github'), Type.Literal('discord')]);
const TokenOrChallenge = Type.Union([
  Type.Object({
    tokenType: Type.Literal('Bearer'),
    accessToken: Type.String(),
    expiresIn: Type.Integer(),
    refreshToken: Type.String(),
    user: Type.Object({
      id: Type.String({ format: 'uuid' }),
      telegramId: Type.Integer(),
      role: Type.String(),
      status: Type.String(),
      languageCode: Type.Union([Type.String(), Type.Null()]),
      createdAt: Type.String({ format: 'date-time' }),
    }),
  }),
  Type.Object({
    mfaRequired: Type.Literal(true),
    challenge: Type.String(),
    expiresIn: Type.Integer(),
    methods: Type.Array(Type.String()),
  }),
]);

/** A browser navigating here (the provider's redirect) asks for HTML; API clients and tools get JSON errors. */
function wantsHtml(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/html');
}

function sendPage(reply: FastifyReply, status: number, html: string) {
  return reply.status(status).type('text/html; charset=utf-8').send(html);
}

export async function oauthRoutes(fastify: FastifyInstance, options: OAuthRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { audit, oauth } = options;
  const { service, links } = oauth;

  app.get(
    '/api/v1/oauth/providers',
    {
      config: { permission: 'oauth:read' },
      schema: {
        summary: 'The sign-in providers this server offers, and which of them the caller linked',
        tags: ['oauth'],
        response: {
          200: Type.Object({
            providers: Type.Array(
              Type.Object({
                id: ProviderId,
                name: Type.String(),
                linked: Type.Boolean(),
                displayName: Type.Union([Type.String(), Type.Null()]),
                email: Type.Union([Type.String(), Type.Null()]),
                emailVerified: Type.Boolean(),
                linkedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
              }),
            ),
          }),
        },
      },
    },
    async (request) => {
      const userId = request.principal?.userId as string;
      const linked = new Map((await links.list(userId)).map((link) => [link.provider, link]));
      return {
        providers: service.offered().map((provider) => {
          const link = linked.get(provider.id);
          return {
            id: provider.id,
            name: provider.name,
            linked: link !== undefined,
            displayName: link?.displayName ?? null,
            email: link?.email ?? null,
            emailVerified: link?.emailVerified ?? false,
            linkedAt: link ? link.linkedAt.toISOString() : null,
          };
        }),
      };
    },
  );

  app.post(
    '/api/v1/oauth/:provider/link',
    {
      config: { permission: 'oauth:write', requires: ['redis'] },
      schema: {
        summary: 'Start linking a provider account: open the returned URL in the browser',
        tags: ['oauth'],
        params: ProviderParams,
        response: { 200: Type.Object({ authorizationUrl: Type.String() }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (principal?.kind !== 'user') {
        return reply.status(400).send({
          error: { code: 'NOT_A_SESSION', message: 'Link accounts from a signed-in session (the Mini App).' },
        });
      }
      return service.startLink(principal.userId, request.params.provider);
    },
  );

  app.delete(
    '/api/v1/oauth/:provider',
    {
      config: { permission: 'oauth:write' },
      schema: {
        summary: 'Unlink a provider account',
        tags: ['oauth'],
        params: ProviderParams,
        response: { 204: Type.Null(), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (principal?.kind !== 'user') {
        return reply.status(400).send({
          error: { code: 'NOT_A_SESSION', message: 'Unlink accounts from a signed-in session (the Mini App).' },
        });
      }
      const provider = service.provider(request.params.provider);
      const linkId = await links.unlink(principal.userId, provider.id);
      if (!linkId) throw oauthError('OAUTH_NOT_LINKED');
      await audit.record({
        actor: { type: 'user', id: principal.userId },
        action: 'oauth.unlink',
        target: { type: 'oauth_link', id: linkId },
        result: 'success',
        source: 'api',
        requestId: request.id,
        ip: request.ip,
        details: { provider: provider.id },
      });
      await options.notify({ kind: 'oauth-unlinked', userId: principal.userId, provider: provider.id });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/oauth/:provider/callback',
    {
      // The provider sends the browser here; `state` (not a session) says who asked. Strict auth rate limits.
      config: { public: true, requires: ['redis'] },
      schema: {
        summary: 'Where the provider redirects the browser (an HTML page, or a redirect for external sign-in)',
        tags: ['oauth'],
        params: ProviderParams,
        // Read from the raw URL (every parameter, iss included, goes to the OAuth client); bounded here.
        querystring: Type.Object(
          {
            code: Type.Optional(Type.String({ maxLength: 2048 })),
            state: Type.Optional(Type.String({ maxLength: 512 })),
            error: Type.Optional(Type.String({ maxLength: 256 })),
          },
          { additionalProperties: true },
        ),
        // Errors are an HTML page for browsers (Accept: text/html), the usual JSON error for everyone else.
        response: {
          200: HtmlPage,
          302: Type.Null({ description: 'External sign-in: back to the client with a one-time code' }),
          400: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const parameters = new URL(request.url, 'http://callback.invalid').searchParams;
      const outcome = await service.handleCallback(request.params.provider, parameters);
      if (!outcome.ok) {
        const pending = outcome.pending;
        await audit.record({
          actor: pending?.purpose === 'link' ? { type: 'user', id: pending.userId } : { type: 'anonymous' },
          action: pending?.purpose === 'link' ? 'oauth.link' : pending ? 'auth.login' : 'oauth.callback',
          result:
            outcome.code === 'OAUTH_ACCOUNT_LINKED_ELSEWHERE' || outcome.code === 'OAUTH_ACCOUNT_UNKNOWN'
              ? 'denied'
              : 'failure',
          reasonCode: outcome.code,
          source: 'api',
          requestId: request.id,
          ip: request.ip,
        });
        const status = OAuthErrors[outcome.code].status;
        if (wantsHtml(request)) return sendPage(reply, status, errorPage(outcome.code));
        return reply.status(status).send({ error: { code: outcome.code, message: OAuthErrors[outcome.code].message } });
      }
      if (outcome.kind === 'sign_in') {
        await audit.record({
          actor: { type: 'user', id: outcome.userId },
          action: 'auth.oauth_code',
          result: 'success',
          source: 'api',
          requestId: request.id,
          ip: request.ip,
          details: { provider: outcome.provider },
        });
        return reply.redirect(outcome.redirectTo, 302);
      }
      await audit.record({
        actor: { type: 'user', id: outcome.userId },
        action: 'oauth.link',
        target: { type: 'oauth_link', id: outcome.linkId },
        result: 'success',
        source: 'api',
        requestId: request.id,
        ip: request.ip,
        details: { provider: outcome.provider, isNew: outcome.isNew },
      });
      if (outcome.isNew)
        await options.notify({ kind: 'oauth-linked', userId: outcome.userId, provider: outcome.provider });
      return sendPage(reply, 200, linkedPage(PROVIDER_NAMES[outcome.provider]));
    },
  );

  app.post(
    '/api/v1/auth/oauth/:provider/start',
    {
      config: { public: true, requires: ['redis'] },
      bodyLimit: OAUTH_BODY_LIMIT_BYTES,
      schema: {
        summary: 'External clients: start signing in with a linked account (PKCE with your own verifier)',
        tags: ['auth', 'oauth'],
        params: ProviderParams,
        body: Type.Object(
          {
            redirectUri: Type.String({ minLength: 1, maxLength: 512 }),
            codeChallenge: Type.String({ pattern: CODE_CHALLENGE_PATTERN, minLength: 43, maxLength: 43 }),
            codeChallengeMethod: Type.Literal('S256'),
            state: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ authorizationUrl: Type.String() }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { redirectUri, codeChallenge, state } = request.body;
      return service.startSignIn(request.params.provider, {
        redirectUri,
        codeChallenge,
        ...(state !== undefined ? { state } : {}),
      });
    },
  );

  app.post(
    '/api/v1/auth/oauth/token',
    {
      config: { public: true, requires: ['redis'] },
      bodyLimit: OAUTH_BODY_LIMIT_BYTES,
      schema: {
        summary: 'External clients: redeem the one-time code with your PKCE verifier for tokens (or an MFA challenge)',
        tags: ['auth', 'oauth'],
        body: Type.Object(
          {
            code: Type.String({ minLength: 1, maxLength: 128 }),
            // RFC 7636 4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~].
            codeVerifier: Type.String({ minLength: 43, maxLength: 128, pattern: '^[A-Za-z0-9._~-]{43,128}$' }),
          },
          { additionalProperties: false },
        ),
        response: { 200: TokenOrChallenge, 400: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      let redeemed: Awaited<ReturnType<typeof service.redeemSignIn>>;
      try {
        redeemed = await service.redeemSignIn(request.body);
      } catch (error) {
        await audit.record({
          actor: { type: 'anonymous' },
          action: 'auth.login',
          result: 'failure',
          reasonCode: 'OAUTH_EXCHANGE_INVALID',
          source: 'api',
          requestId: request.id,
          ip: request.ip,
        });
        throw error;
      }
      const user = await findUserById(options.db, redeemed.userId);
      if (!user) throw oauthError('OAUTH_ACCOUNT_UNKNOWN');
      const outcome = await completeSignIn(options.signIn, {
        user,
        // `amr` names the provider (RFC 8176 allows values of our own): the session says how it was opened.
        method: redeemed.provider,
        client: `Web · ${PROVIDER_NAMES[redeemed.provider]}`,
        ip: request.ip,
        requestId: request.id,
      });
      if (outcome.kind === 'denied') {
        return reply.status(403).send({ error: { code: outcome.code, message: outcome.message } });
      }
      return outcome.body;
    },
  );
}
