/**
 * Admin: grant and revoke roles. Audited; the person is told in Telegram; the last admin cannot be demoted.
 * Making someone an admin needs a second admin (the two-person rule, shared/identity/role-grants.ts): the
 * request answers 202 APPROVAL_REQUIRED with the request's id, every admin is told, and a different admin
 * approves it (routes/admin/role-grants.ts). Demotions apply at once.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import { USER_ROLES } from '#shared/db/schema.ts';
import type { Principal } from '#shared/identity/principal.ts';
import { createRoleGrantService } from '#shared/identity/role-grants.ts';
import { changeRole } from '#shared/identity/roles.ts';
import { findUserById } from '#shared/identity/users.ts';
import { STEP_UP_SECONDS } from '#shared/mfa/index.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import type { Notify } from '../../notify.ts';

export interface AdminRoutesOptions {
  db: Db;
  sessions: SessionStore;
  audit: AuditLog;
  notify: Notify;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });

export async function adminRoutes(fastify: FastifyInstance, options: AdminRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const grants = createRoleGrantService({
    db: options.db,
    audit: options.audit,
    notify: options.notify,
    setSessionRole: (userId, role) => options.sessions.setRole(userId, role),
  });
  app.put(
    '/api/v1/admin/users/:id/role',
    {
      // Every admin action needs a second factor verified in the last 10 minutes (the MFA issue).
      config: { permission: 'admin:roles:write', requires: ['redis'], stepUpSeconds: STEP_UP_SECONDS },
      schema: {
        summary: 'Set a user’s role',
        tags: ['admin'],
        params: Type.Object({ id: Type.String({ format: 'uuid', maxLength: 36 }) }, { additionalProperties: false }),
        body: Type.Object(
          { role: Type.Union(USER_ROLES.map((role) => Type.Literal(role))) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ id: Type.String(), role: Type.String(), changed: Type.Boolean() }),
          // Promotion to admin: waiting for a second admin (POST /api/v1/admin/role-grants/:id/approve).
          202: Type.Object({
            code: Type.Literal('APPROVAL_REQUIRED'),
            grantId: Type.String({ format: 'uuid' }),
            expiresAt: Type.String({ format: 'date-time' }),
          }),
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const admin = request.principal as Principal;
      if (request.body.role === 'admin') {
        const current = await findUserById(options.db, request.params.id);
        // Already an admin: nothing to approve (the same answer as any unchanged role).
        if (current?.role !== 'admin') {
          const grant = await grants.request(request.params.id, {
            actorUserId: admin.userId,
            source: 'api',
            requestId: request.id,
            ip: request.ip,
          });
          return reply.code(202).send({
            code: 'APPROVAL_REQUIRED' as const,
            grantId: grant.id,
            expiresAt: grant.expiresAt.toISOString(),
          });
        }
      }
      const result = await changeRole(options.db, {
        userId: request.params.id,
        role: request.body.role,
        actorId: admin.userId, // re-checked under the role lock (a concurrent change may have demoted them)
      });
      if (result.changed) {
        // Sessions carry the role the auth check reads: the change applies to the next request.
        await options.sessions.setRole(result.user.id, result.user.role);
        await options.audit.record({
          actor: {
            type: admin.kind === 'user' ? 'user' : 'api_key',
            id: admin.kind === 'user' ? admin.userId : admin.keyId,
          },
          subjectUserId: result.user.id,
          action: 'admin.role_change',
          target: { type: 'user', id: result.user.id },
          result: 'success',
          reasonCode: `ROLE_${result.previous.toUpperCase()}_TO_${result.user.role.toUpperCase()}`,
          source: 'api',
          requestId: request.id,
          ip: request.ip,
        });
        await options.notify({ kind: 'role-changed', userId: result.user.id, role: result.user.role });
      }
      return { id: result.user.id, role: result.user.role, changed: result.changed };
    },
  );
}
