/**
 * Two-factor codes for the signed-in person (status, enrolment with a QR code, backup codes, disabling,
 * cancelling an admin reset) and the admin's reset request. Writing routes need a session (an API key never
 * manages its owner's second factor); codes in bodies are verified on the `api` channel's lockout.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import Type from 'typebox';
import type { Db } from '#shared/db/index.ts';
import type { Principal } from '#shared/identity/principal.ts';
import { findUserById } from '#shared/identity/users.ts';
import { type MfaService, STEP_UP_SECONDS } from '#shared/mfa/index.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';

export { STEP_UP_SECONDS } from './step-up.ts';

export interface MfaRoutesOptions {
  mfa: MfaService;
  db: Db;
  sessions: SessionStore;
}

const MFA_BODY_LIMIT_BYTES = 1024;
const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});
const CodeBody = Type.Object(
  // 6 digits, or a backup code (10 Base32 characters, dashes and spaces allowed).
  { code: Type.String({ minLength: 6, maxLength: 32, pattern: '^[0-9A-Za-z -]+$' }) },
  { additionalProperties: false },
);
const BackupCodes = Type.Object({ backupCodes: Type.Array(Type.String()) });
const StatusBody = Type.Object({
  enabled: Type.Boolean(),
  enrolledAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  backupCodesRemaining: Type.Integer(),
  pendingReset: Type.Union([Type.Object({ effectiveAt: Type.String({ format: 'date-time' }) }), Type.Null()]),
  lockedUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

type UserPrincipal = Extract<Principal, { kind: 'user' }>;

function sessionOf(request: FastifyRequest, reply: FastifyReply): UserPrincipal | null {
  const principal = request.principal;
  if (principal?.kind === 'user') return principal;
  void reply
    .status(400)
    .send({ error: { code: 'NOT_A_SESSION', message: 'Manage two-factor codes from a signed-in session.' } });
  return null;
}

function codeFailure(reply: FastifyReply, reason: 'invalid' | 'locked' | 'not_enrolled') {
  if (reason === 'locked') {
    return reply
      .status(429)
      .send({ error: { code: 'SECOND_FACTOR_LOCKED', message: 'Too many wrong codes. Try again later.' } });
  }
  if (reason === 'not_enrolled') {
    return reply
      .status(409)
      .send({ error: { code: 'MFA_NOT_ENROLLED', message: 'Two-factor codes are not on. Set them up first.' } });
  }
  return reply.status(401).send({ error: { code: 'SECOND_FACTOR_INVALID', message: 'That code is not valid.' } });
}

export async function mfaRoutes(fastify: FastifyInstance, options: MfaRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { mfa } = options;

  app.get(
    '/api/v1/mfa',
    {
      config: { permission: 'mfa:read' },
      schema: { summary: 'Your two-factor status', tags: ['mfa'], response: { 200: StatusBody } },
    },
    async (request) => {
      const status = await mfa.status((request.principal as Principal).userId);
      return {
        enabled: status.enabled,
        enrolledAt: status.enrolledAt?.toISOString() ?? null,
        backupCodesRemaining: status.backupCodesRemaining,
        pendingReset: status.pendingReset ? { effectiveAt: status.pendingReset.effectiveAt.toISOString() } : null,
        lockedUntil: status.lockedUntil?.toISOString() ?? null,
      };
    },
  );

  app.post(
    '/api/v1/mfa/enrolment',
    {
      config: { permission: 'mfa:write' },
      bodyLimit: MFA_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Start setting up an authenticator app: a new secret, its otpauth URI and a QR code',
        tags: ['mfa'],
        response: {
          200: Type.Object({ otpauthUri: Type.String(), secret: Type.String(), qrDataUrl: Type.String() }),
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const principal = sessionOf(request, reply);
      if (!principal) return reply;
      const user = await findUserById(options.db, principal.userId);
      if (!user)
        return reply.status(404).send({ error: { code: 'USER_NOT_FOUND', message: 'This account no longer exists.' } });
      // The API has no Telegram handle: the label is the Telegram id (the bot uses @username when there is one).
      const { otpauthUri, secret } = await mfa.startEnrolment(user.id, String(user.telegramId));
      const qrDataUrl = await QRCode.toDataURL(otpauthUri, { type: 'image/png', width: 320, margin: 2 });
      // The secret is shown to its owner for this set-up only; no cache may keep it.
      reply.header('cache-control', 'no-store');
      return { otpauthUri, secret, qrDataUrl };
    },
  );

  app.post(
    '/api/v1/mfa/enrolment/confirm',
    {
      config: { permission: 'mfa:write', requires: ['redis'] },
      bodyLimit: MFA_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Finish set-up with the current code; answers the backup codes, shown this once',
        tags: ['mfa'],
        body: CodeBody,
        response: { 200: BackupCodes, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = sessionOf(request, reply);
      if (!principal) return reply;
      const result = await mfa.confirmEnrolment(principal.userId, request.body.code, 'api');
      if (!result.ok) return codeFailure(reply, result.reason);
      // The code just verified is a fresh second factor for this session: amr gains `otp`.
      await options.sessions.markSecondFactor(principal.sessionId, Math.floor(Date.now() / 1000));
      reply.header('cache-control', 'no-store');
      return { backupCodes: result.backupCodes };
    },
  );

  app.post(
    '/api/v1/mfa/disable',
    {
      // The code in the body is the step-up: a current TOTP or a backup code, checked in this request.
      config: { permission: 'mfa:write', requires: ['redis'] },
      bodyLimit: MFA_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Turn two-factor codes off (needs a current code or a backup code)',
        tags: ['mfa'],
        body: CodeBody,
        response: { 204: Type.Null(), 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = sessionOf(request, reply);
      if (!principal) return reply;
      const result = await mfa.disable(principal.userId, request.body.code, 'api');
      if (!result.ok) return codeFailure(reply, result.reason);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/mfa/backup-codes',
    {
      config: { permission: 'mfa:write', requires: ['redis'] },
      bodyLimit: MFA_BODY_LIMIT_BYTES,
      schema: {
        summary: 'New backup codes (needs a current authenticator code; the old set stops working)',
        tags: ['mfa'],
        body: CodeBody,
        response: { 200: BackupCodes, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = sessionOf(request, reply);
      if (!principal) return reply;
      const result = await mfa.regenerateBackupCodes(principal.userId, request.body.code, 'api');
      if (!result.ok) return codeFailure(reply, result.reason);
      reply.header('cache-control', 'no-store');
      return { backupCodes: result.backupCodes };
    },
  );

  app.delete(
    '/api/v1/mfa/reset',
    {
      config: { permission: 'mfa:write' },
      schema: {
        summary: 'Cancel a pending admin reset of your two-factor codes',
        tags: ['mfa'],
        response: { 204: Type.Null(), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = sessionOf(request, reply);
      if (!principal) return reply;
      if (!(await mfa.cancelReset(principal.userId, 'api'))) {
        return reply
          .status(404)
          .send({ error: { code: 'MFA_RESET_NOT_PENDING', message: 'There is no pending two-factor reset.' } });
      }
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/admin/users/:userId/mfa-reset',
    {
      // An admin action on someone's account: a fresh second factor of the admin (step-up) first.
      config: { permission: 'admin:users:write', stepUpSeconds: STEP_UP_SECONDS },
      schema: {
        summary: 'Remove a person’s two-factor codes after a 24-hour delay (they can cancel it)',
        tags: ['admin'],
        params: Type.Object(
          { userId: Type.String({ format: 'uuid', maxLength: 36 }) },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ effectiveAt: Type.String({ format: 'date-time' }) }),
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const admin = request.principal as Principal;
      const target = await findUserById(options.db, request.params.userId);
      if (!target) return reply.status(404).send({ error: { code: 'USER_NOT_FOUND', message: 'No such user.' } });
      const { effectiveAt } = await mfa.requestReset({ userId: target.id, adminId: admin.userId, source: 'api' });
      return reply.status(202).send({ effectiveAt: effectiveAt.toISOString() });
    },
  );
}
