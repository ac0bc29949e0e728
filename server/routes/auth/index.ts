/**
 * Sign-in with Telegram initData (through `completeSignIn`: a person with MFA gets a challenge, finished at
 * /auth/mfa/verify), token refresh with rotation, logout, step-up, the caller's profile and the public keys
 * that verify our access tokens.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { Principal } from '#shared/identity/principal.ts';
import type { SecondFactor } from '#shared/identity/second-factor.ts';
import { INIT_DATA_MAX_LENGTH, type InitDataResult } from '#shared/identity/telegram-login.ts';
import { findUserById, upsertTelegramUser } from '#shared/identity/users.ts';
import type { MfaService } from '#shared/mfa/index.ts';
import type { TokenSigner } from '#shared/tokens/jwt.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import type { Notify } from '../../notify.ts';
import { completeSignIn, issueAccessToken, openSession } from './sign-in.ts';

export interface AuthRoutesOptions {
  db: Db;
  signer: TokenSigner;
  sessions: SessionStore;
  audit: AuditLog;
  verifyInitData: ((initData: string) => Promise<InitDataResult>) | undefined;
  adminTelegramIds: readonly number[];
  secondFactor: SecondFactor;
  notify: Notify;
  /** Sign-in challenges and "is MFA on" for sign-in and refresh. */
  mfa: Pick<MfaService, 'isEnrolled' | 'createChallenge' | 'completeChallenge'>;
}

/** Sign-in bodies are small (initData is at most INIT_DATA_MAX_LENGTH): refuse anything larger unread. */
const AUTH_BODY_LIMIT_BYTES = 8 * 1024;

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});
const TokenResponse = Type.Object({
  tokenType: Type.Literal('Bearer'),
  accessToken: Type.String(),
  expiresIn: Type.Integer(),
  refreshToken: Type.String(),
});
const UserBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  telegramId: Type.Integer(),
  role: Type.String(),
  status: Type.String(),
  languageCode: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});

const issueFor = issueAccessToken;
/** The answer for a person with MFA: no tokens until the challenge is completed with a code. */
const MfaChallengeResponse = Type.Object({
  mfaRequired: Type.Literal(true),
  challenge: Type.String(),
  expiresIn: Type.Integer(),
  methods: Type.Array(Type.Union([Type.Literal('totp'), Type.Literal('backup_code')])),
});

function userSession(request: FastifyRequest): Extract<Principal, { kind: 'user' }> | undefined {
  return request.principal?.kind === 'user' ? request.principal : undefined;
}

export async function authRoutes(fastify: FastifyInstance, options: AuthRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { audit, sessions, signer } = options;

  app.post(
    '/api/v1/auth/telegram',
    {
      config: { public: true, requires: ['redis'] },
      bodyLimit: AUTH_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Sign in with Telegram Mini App initData',
        tags: ['auth'],
        body: Type.Object(
          {
            initData: Type.String({ minLength: 1, maxLength: INIT_DATA_MAX_LENGTH }),
            client: Type.Optional(Type.String({ maxLength: 40, pattern: '^[\\w .·()-]*$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Union([Type.Intersect([TokenResponse, Type.Object({ user: UserBody })]), MfaChallengeResponse]),
          401: ErrorBody,
          403: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      if (!options.verifyInitData) {
        return reply.status(503).send({
          error: { code: 'TELEGRAM_LOGIN_UNAVAILABLE', message: 'Telegram sign-in is not configured on this server.' },
        });
      }
      const result = await options.verifyInitData(request.body.initData);
      if (!result.ok) {
        await audit.record({
          actor: { type: 'anonymous' },
          action: 'auth.login',
          result: 'failure',
          reasonCode: result.reason,
          source: 'api',
          requestId: request.id,
          ip: request.ip,
        });
        return reply
          .status(401)
          .send({ error: { code: result.reason, message: 'Telegram sign-in failed. Reopen the app from the bot.' } });
      }
      const { user } = await upsertTelegramUser(options.db, {
        telegramId: result.identity.telegramId,
        languageCode: result.identity.languageCode,
        adminTelegramIds: options.adminTelegramIds,
      });
      const outcome = await completeSignIn(
        { db: options.db, sessions, signer, audit, mfa: options.mfa },
        {
          user,
          method: 'tg',
          client: request.body.client ? `Mini App · ${request.body.client}` : 'Mini App',
          ip: request.ip,
          requestId: request.id,
        },
      );
      if (outcome.kind === 'denied') {
        return reply.status(403).send({ error: { code: outcome.code, message: outcome.message } });
      }
      return outcome.body;
    },
  );

  app.post(
    '/api/v1/auth/mfa/verify',
    {
      config: { public: true, requires: ['redis'] },
      bodyLimit: AUTH_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Finish a sign-in that answered mfaRequired, with a TOTP or a backup code',
        tags: ['auth'],
        body: Type.Object(
          {
            challenge: Type.String({ minLength: 1, maxLength: 200 }),
            code: Type.String({ minLength: 6, maxLength: 32 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Intersect([TokenResponse, Type.Object({ user: UserBody })]),
          401: ErrorBody,
          403: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const result = await options.mfa.completeChallenge(request.body.challenge, request.body.code);
      if (!result.ok) {
        await audit.record({
          actor: result.userId ? { type: 'user', id: result.userId } : { type: 'anonymous' },
          action: 'auth.mfa_verify',
          result: 'failure',
          reasonCode:
            result.reason === 'challenge_invalid'
              ? 'MFA_CHALLENGE_INVALID'
              : `SECOND_FACTOR_${result.reason.toUpperCase()}`,
          source: 'api',
          requestId: request.id,
          ip: request.ip,
        });
        if (result.reason === 'challenge_invalid') {
          return reply
            .status(401)
            .send({ error: { code: 'MFA_CHALLENGE_INVALID', message: 'This sign-in has expired. Sign in again.' } });
        }
        // The challenge names the person: the failure is theirs (and counts toward their API-channel lockout).
        return reply.status(result.reason === 'locked' ? 429 : 401).send({
          error:
            result.reason === 'locked'
              ? { code: 'SECOND_FACTOR_LOCKED', message: 'Too many wrong codes. Try again later.' }
              : { code: 'SECOND_FACTOR_INVALID', message: 'That code is not valid.' },
        });
      }
      const user = await findUserById(options.db, result.userId);
      if (user?.status !== 'active') {
        return reply
          .status(403)
          .send({ error: { code: 'ACCOUNT_NOT_ACTIVE', message: 'This account is not active.' } });
      }
      const nowSeconds = Math.floor(Date.now() / 1000);
      // The session records both factors: amr = [first factor, 'otp'], and a fresh second-factor time.
      const { body, sessionId } = await openSession(
        { sessions, signer },
        { user, amr: [...result.amr, 'otp'], client: result.client, ip: result.ip, secondFactorAt: nowSeconds },
      );
      // The sign-in completes here: one success entry for it (the challenge step was `auth.mfa_challenge`).
      await audit.record({
        actor: { type: 'user', id: user.id },
        action: 'auth.mfa_verify',
        target: { type: 'session', id: sessionId },
        result: 'success',
        source: 'api',
        requestId: request.id,
        ip: request.ip,
      });
      return body;
    },
  );

  app.post(
    '/api/v1/auth/refresh',
    {
      config: { public: true, requires: ['redis'] },
      bodyLimit: AUTH_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Exchange a refresh token for new tokens (the refresh token rotates)',
        tags: ['auth'],
        body: Type.Object(
          { refreshToken: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 200: TokenResponse, 401: ErrorBody },
      },
    },
    async (request, reply) => {
      const outcome = await sessions.refresh(request.body.refreshToken);
      if (!outcome.ok) {
        if (outcome.reason === 'REFRESH_TOKEN_REUSED' && outcome.userId) {
          // A rotated token came back: whoever holds the family is not only the owner. The session is gone.
          await audit.record({
            actor: { type: 'anonymous' },
            action: 'auth.refresh_reuse',
            subjectUserId: outcome.userId,
            target: { type: 'session', id: outcome.sessionId },
            result: 'denied',
            reasonCode: 'REFRESH_TOKEN_REUSED',
            source: 'api',
            requestId: request.id,
            ip: request.ip,
          });
          await options.notify({ kind: 'refresh-reuse', userId: outcome.userId });
        }
        return reply.status(401).send({ error: { code: outcome.reason, message: 'Sign in again.' } });
      }
      const { session } = outcome;
      // A session that never proved a second factor (it predates the person's enrolment) is not renewed once
      // MFA is on: every way in needs the code. Sign in again (Telegram answers mfaRequired).
      if (!session.amr.includes('otp') && (await options.mfa.isEnrolled(session.userId))) {
        await sessions.revoke(session.id);
        await audit.record({
          actor: { type: 'user', id: session.userId },
          action: 'auth.refresh',
          target: { type: 'session', id: session.id },
          result: 'denied',
          reasonCode: 'MFA_REQUIRED',
          source: 'api',
          requestId: request.id,
          ip: request.ip,
        });
        return reply
          .status(401)
          .send({ error: { code: 'MFA_REQUIRED', message: 'Two-factor codes are on: sign in again with a code.' } });
      }
      return {
        tokenType: 'Bearer' as const,
        ...(await issueFor(signer, session)),
        refreshToken: outcome.refreshToken,
      };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      // Ending one's own session changes nothing else: every signed-in role may do it.
      config: { permission: 'profile:read' },
      schema: { summary: 'End the current session', tags: ['auth'], response: { 204: Type.Null(), 400: ErrorBody } },
    },
    async (request, reply) => {
      const principal = userSession(request);
      if (!principal) {
        return reply
          .status(400)
          .send({ error: { code: 'NOT_A_SESSION', message: 'API keys have no session to end.' } });
      }
      await sessions.revoke(principal.sessionId);
      await audit.record({
        actor: { type: 'user', id: principal.userId },
        action: 'auth.logout',
        target: { type: 'session', id: principal.sessionId },
        result: 'success',
        source: 'api',
        requestId: request.id,
        ip: request.ip,
      });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/auth/step-up',
    {
      config: { permission: 'profile:read', requires: ['redis'] },
      bodyLimit: AUTH_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Verify a second factor now, for actions that need a recent one',
        tags: ['auth'],
        body: Type.Object({ code: Type.String({ minLength: 6, maxLength: 32 }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            tokenType: Type.Literal('Bearer'),
            accessToken: Type.String(),
            expiresIn: Type.Integer(),
          }),
          400: ErrorBody,
          401: ErrorBody,
          409: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const principal = userSession(request);
      if (!principal) {
        return reply
          .status(400)
          .send({ error: { code: 'NOT_A_SESSION', message: 'Step-up needs a signed-in session.' } });
      }
      const result = await options.secondFactor.verify(principal.userId, request.body.code, 'api');
      await audit.record({
        actor: { type: 'user', id: principal.userId },
        action: 'auth.step_up',
        result: result === 'ok' ? 'success' : 'failure',
        reasonCode: result === 'ok' ? undefined : `SECOND_FACTOR_${result.toUpperCase()}`,
        source: 'api',
        requestId: request.id,
        ip: request.ip,
      });
      if (result === 'not_enrolled') {
        return reply
          .status(409)
          .send({ error: { code: 'MFA_NOT_ENROLLED', message: 'Set up two-factor codes first (/mfa in the bot).' } });
      }
      if (result === 'locked') {
        return reply
          .status(429)
          .send({ error: { code: 'SECOND_FACTOR_LOCKED', message: 'Too many wrong codes. Try again later.' } });
      }
      if (result !== 'ok')
        return reply.status(401).send({ error: { code: 'SECOND_FACTOR_INVALID', message: 'That code is not valid.' } });
      const now = Math.floor(Date.now() / 1000);
      await sessions.markSecondFactor(principal.sessionId, now);
      const session = await sessions.get(principal.sessionId);
      if (!session) return reply.status(401).send({ error: { code: 'SESSION_REVOKED', message: 'Sign in again.' } });
      // The refresh token stays as it is: step-up proves presence now, it does not start a new session.
      return { tokenType: 'Bearer' as const, ...(await issueFor(signer, session)) };
    },
  );

  app.get(
    '/api/v1/me',
    {
      config: { permission: 'profile:read' },
      schema: {
        summary: 'The signed-in user',
        tags: ['identity'],
        response: {
          200: Type.Object({
            user: UserBody,
            permissions: Type.Array(Type.String()),
            via: Type.Union([Type.Literal('session'), Type.Literal('api_key')]),
          }),
          404: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const principal = request.principal as Principal;
      const user = await findUserById(options.db, principal.userId);
      if (!user)
        return reply.status(404).send({ error: { code: 'USER_NOT_FOUND', message: 'This account no longer exists.' } });
      return {
        user: { ...user, createdAt: user.createdAt.toISOString() },
        permissions: [...principal.permissions],
        via: principal.kind === 'user' ? ('session' as const) : ('api_key' as const),
      };
    },
  );

  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        summary: 'Public keys that verify our access tokens (RFC 7517)',
        tags: ['auth'],
        response: { 200: Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true })) }) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return signer.jwks();
    },
  );
}
