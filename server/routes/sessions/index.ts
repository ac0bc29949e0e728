/** The signed-in user's sessions: list them, end one, end all others, end all. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Principal } from '#shared/identity/principal.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';

export interface SessionRoutesOptions {
  sessions: SessionStore;
  audit: AuditLog;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const SessionBody = Type.Object({
  id: Type.String(),
  client: Type.String(),
  ip: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.String({ format: 'date-time' }),
  current: Type.Boolean(),
});

export async function sessionRoutes(fastify: FastifyInstance, options: SessionRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { sessions, audit } = options;
  const principalOf = (request: FastifyRequest) => request.principal as Principal;
  const currentSession = (principal: Principal) => (principal.kind === 'user' ? principal.sessionId : undefined);
  const record = (request: FastifyRequest, action: string, target: string, count?: number) =>
    audit.record({
      actor: { type: principalOf(request).kind === 'user' ? 'user' : 'api_key', id: actorId(principalOf(request)) },
      subjectUserId: principalOf(request).userId,
      action,
      target: { type: 'session', id: target },
      result: 'success',
      reasonCode: count === undefined ? undefined : `COUNT_${count}`,
      source: 'api',
      requestId: request.id,
      ip: request.ip,
    });

  app.get(
    '/api/v1/sessions',
    {
      config: { permission: 'sessions:read', requires: ['redis'] },
      schema: {
        summary: 'Your signed-in sessions',
        tags: ['sessions'],
        response: { 200: Type.Object({ sessions: Type.Array(SessionBody) }) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const list = await sessions.list(principal.userId);
      return {
        sessions: list.map((session) => ({
          id: session.id,
          client: session.client,
          ip: session.ip,
          createdAt: new Date(session.createdAt).toISOString(),
          lastSeenAt: new Date(session.lastSeenAt).toISOString(),
          current: session.id === currentSession(principal),
        })),
      };
    },
  );

  app.delete(
    '/api/v1/sessions/:id',
    {
      config: { permission: 'sessions:write', requires: ['redis'] },
      schema: {
        summary: 'End one of your sessions',
        tags: ['sessions'],
        params: Type.Object(
          { id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const session = await sessions.get(request.params.id);
      // Someone else's session answers exactly like a missing one: ids cannot be probed.
      if (!session || session.userId !== principal.userId) {
        return reply.status(404).send({ error: { code: 'SESSION_NOT_FOUND', message: 'No such session.' } });
      }
      await sessions.revoke(session.id);
      await record(request, 'session.revoke', session.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/sessions/revoke-others',
    {
      config: { permission: 'sessions:write', requires: ['redis'] },
      schema: {
        summary: 'End every session except this one',
        tags: ['sessions'],
        response: { 200: Type.Object({ revoked: Type.Integer() }) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const revoked = await sessions.revokeAll(principal.userId, currentSession(principal));
      await record(request, 'session.revoke_others', currentSession(principal) ?? 'none', revoked);
      return { revoked };
    },
  );

  app.delete(
    '/api/v1/sessions',
    {
      config: { permission: 'sessions:write', requires: ['redis'] },
      schema: {
        summary: 'End all your sessions (including this one)',
        tags: ['sessions'],
        response: { 200: Type.Object({ revoked: Type.Integer() }) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const revoked = await sessions.revokeAll(principal.userId);
      await record(request, 'session.revoke_all', 'all', revoked);
      return { revoked };
    },
  );
}

function actorId(principal: Principal): string {
  return principal.kind === 'user' ? principal.userId : principal.keyId;
}
