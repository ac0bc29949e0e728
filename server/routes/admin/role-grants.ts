/**
 * Admin: the second half of the two-person rule for the admin role. A request made by one admin (PUT
 * /api/v1/admin/users/:id/role with `admin`, or the bot's /admin menu) waits here: a *different* admin approves
 * or rejects it within 24 hours. Each decision is single use, audited with the acting admin and announced in
 * Telegram to every admin (and, when approved, to the person). Like every admin route it needs a second factor
 * verified in the last 10 minutes.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { Principal } from '#shared/identity/principal.ts';
import { createRoleGrantService, type RoleGrantRow } from '#shared/identity/role-grants.ts';
import { STEP_UP_SECONDS } from '#shared/mfa/index.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import type { Notify } from '../../notify.ts';

export interface RoleGrantRoutesOptions {
  db: Db;
  sessions: SessionStore;
  audit: AuditLog;
  notify: Notify;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });

const GrantParams = Type.Object(
  { id: Type.String({ format: 'uuid', maxLength: 36 }) },
  { additionalProperties: false },
);

const GrantBody = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    userId: Type.String({ format: 'uuid' }),
    role: Type.Literal('admin'),
    status: Type.Union([
      Type.Literal('pending'),
      Type.Literal('approved'),
      Type.Literal('rejected'),
      Type.Literal('expired'),
    ]),
    requestedBy: Type.String({ format: 'uuid' }),
    decidedBy: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    decidedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { additionalProperties: false },
);

function grantBody(grant: RoleGrantRow) {
  return {
    id: grant.id,
    userId: grant.targetUserId,
    role: grant.role,
    status: grant.status,
    requestedBy: grant.requestedBy,
    decidedBy: grant.decidedBy,
    createdAt: grant.createdAt.toISOString(),
    expiresAt: grant.expiresAt.toISOString(),
    decidedAt: grant.decidedAt?.toISOString() ?? null,
  };
}

export async function roleGrantRoutes(fastify: FastifyInstance, options: RoleGrantRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const grants = createRoleGrantService({
    db: options.db,
    audit: options.audit,
    notify: options.notify,
    // Sessions carry the role the auth check reads: an approval applies to the person's next request.
    setSessionRole: (userId, role) => options.sessions.setRole(userId, role),
  });
  // Every admin action needs a second factor verified in the last 10 minutes (the MFA issue).
  const config = { permission: 'admin:roles:write', requires: ['redis'], stepUpSeconds: STEP_UP_SECONDS } as const;
  const contextOf = (request: { principal?: Principal | undefined; id: string; ip: string }) => ({
    actorUserId: (request.principal as Principal).userId,
    source: 'api' as const,
    requestId: request.id,
    ip: request.ip,
  });

  app.get(
    '/api/v1/admin/role-grants',
    {
      config,
      schema: {
        summary: 'Admin role requests waiting for a second admin',
        tags: ['admin'],

        response: { 200: Type.Object({ grants: Type.Array(GrantBody) }) },
      },
    },
    async () => ({ grants: (await grants.pending('api')).map(grantBody) }),
  );

  app.post(
    '/api/v1/admin/role-grants/:id/approve',
    {
      config,
      schema: {
        summary: 'Approve an admin role request (a different admin than the one who asked)',
        tags: ['admin'],
        params: GrantParams,
        response: { 200: GrantBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => grantBody(await grants.approve(request.params.id, contextOf(request))),
  );

  app.post(
    '/api/v1/admin/role-grants/:id/reject',
    {
      config,
      schema: {
        summary: 'Reject an admin role request (the admin who asked may withdraw it)',
        tags: ['admin'],
        params: GrantParams,
        response: { 200: GrantBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => grantBody(await grants.reject(request.params.id, contextOf(request))),
  );
}
