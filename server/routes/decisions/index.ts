/**
 * Intrusion-detection decisions over the API. Admins list, issue, lift and extend them (audited); every
 * signed-in person sees the decisions about themselves and can ask for a human review of an automated one
 * (GDPR Art. 22(3)), even while that decision refuses everything else.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { type Decision, type Defense, MAX_DECISION_SECONDS } from '#shared/defense/index.ts';
import type { Principal } from '#shared/identity/principal.ts';

export interface DecisionRoutesOptions {
  defense: Defense;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const DecisionBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  scenario: Type.String(),
  scope: Type.String(),
  kind: Type.String(),
  /** Masked: `ip4:203.0.113.x`, `user:1a2b3c4d…`. */
  target: Type.String(),
  reason: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  automated: Type.Boolean(),
  offenceLevel: Type.Integer({ minimum: 0 }),
  reviewRequestedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  active: Type.Boolean(),
});
const IdParams = Type.Object({ id: Type.String({ format: 'uuid', maxLength: 36 }) }, { additionalProperties: false });
const NOT_FOUND = { error: { code: 'DECISION_NOT_FOUND', message: 'No such active decision.' } };
/** What one "extend" adds when the body does not say: a day. */
const DEFAULT_EXTEND_SECONDS = 24 * 3600;

function view(decision: Decision) {
  return {
    id: decision.id,
    scenario: decision.scenario,
    scope: decision.scope,
    kind: decision.kind,
    target: decision.target,
    reason: decision.reason,
    createdAt: decision.createdAt.toISOString(),
    expiresAt: decision.expiresAt.toISOString(),
    automated: decision.automated,
    offenceLevel: decision.offenceLevel,
    reviewRequestedAt: decision.reviewRequestedAt?.toISOString() ?? null,
    active: decision.liftedAt === null && decision.expiresAt.getTime() > Date.now(),
  };
}

export async function decisionRoutes(fastify: FastifyInstance, options: DecisionRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { defense } = options;
  const contextOf = (request: { principal?: Principal; id: string; ip: string }) => ({
    actorUserId: (request.principal as Principal).userId,
    source: 'api' as const,
    requestId: request.id,
    ip: request.ip,
  });

  app.get(
    '/api/v1/admin/decisions',
    {
      config: { permission: 'admin:security:read' },
      schema: {
        summary: 'Active intrusion-detection decisions',
        tags: ['admin', 'defense'],
        response: { 200: Type.Object({ decisions: Type.Array(DecisionBody) }) },
      },
    },
    async () => ({ decisions: (await defense.decisions.listActive(500)).map(view) }),
  );

  app.post(
    '/api/v1/admin/decisions',
    {
      config: { permission: 'admin:security:write', requires: ['redis'] },
      schema: {
        summary: 'Issue a decision by hand (not automated)',
        tags: ['admin', 'defense'],
        body: Type.Object(
          {
            scope: Type.Union([
              Type.Literal('user'),
              Type.Literal('telegram_user'),
              Type.Literal('ip'),
              Type.Literal('api_key'),
              Type.Literal('chat'),
            ]),
            value: Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z:.\\-]+$' }),
            kind: Type.Union([Type.Literal('ban'), Type.Literal('throttle'), Type.Literal('factor_lockout')]),
            seconds: Type.Integer({ minimum: 60, maximum: MAX_DECISION_SECONDS }),
            // A code, not free text (stored upper-case: no personal data can ride along).
            reason: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9_]*$' }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ decision: DecisionBody }), 400: ErrorBody },
      },
    },
    async (request, reply) => {
      const { scope, value, kind, seconds, reason } = request.body;
      const valid =
        scope === 'ip'
          ? /^[0-9a-fA-F:.]+$/.test(value)
          : scope === 'telegram_user' || scope === 'chat'
            ? /^-?[0-9]{1,20}$/.test(value)
            : /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
      if (!valid) {
        return reply.status(400).send({
          error: { code: 'DECISION_TARGET_INVALID', message: `value is not a valid ${scope} (field: value)` },
        });
      }
      const decision = await defense.issueManual(
        { target: { scope, value }, kind, seconds, reason: reason.toUpperCase() },
        contextOf(request),
      );
      return reply.status(201).send({ decision: view(decision) });
    },
  );

  app.delete(
    '/api/v1/admin/decisions/:id',
    {
      config: { permission: 'admin:security:write', requires: ['redis'] },
      schema: {
        summary: 'Lift a decision now',
        tags: ['admin', 'defense'],
        params: IdParams,
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const lifted = await defense.lift(request.params.id, contextOf(request));
      if (!lifted) return reply.status(404).send(NOT_FOUND);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/admin/decisions/:id/extend',
    {
      config: { permission: 'admin:security:write', requires: ['redis'] },
      schema: {
        summary: 'Extend a decision (default: by one day)',
        tags: ['admin', 'defense'],
        params: IdParams,
        body: Type.Optional(
          Type.Object(
            { seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: MAX_DECISION_SECONDS })) },
            { additionalProperties: false },
          ),
        ),
        response: { 200: Type.Object({ decision: DecisionBody }), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const seconds = request.body?.seconds ?? DEFAULT_EXTEND_SECONDS;
      const extended = await defense.extend(request.params.id, seconds, contextOf(request));
      if (!extended) return reply.status(404).send(NOT_FOUND);
      return { decision: view(extended) };
    },
  );

  app.get(
    '/api/v1/decisions',
    {
      // Readable by the person a decision refuses: how else would they learn why, and ask for a review?
      config: { permission: 'profile:read', decisionExempt: true },
      schema: {
        summary: 'Decisions about me (active and past)',
        tags: ['defense'],
        response: { 200: Type.Object({ decisions: Type.Array(DecisionBody) }) },
      },
    },
    async (request) => ({
      decisions: (await defense.decisions.listForSubject((request.principal as Principal).userId)).map(view),
    }),
  );

  app.post(
    '/api/v1/decisions/:id/review',
    {
      config: { permission: 'profile:read', decisionExempt: true, requires: ['redis'] },
      schema: {
        summary: 'Ask a person to review an automated decision about me (GDPR Art. 22(3))',
        tags: ['defense'],
        params: IdParams,
        response: { 202: Type.Object({ decision: DecisionBody }), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const decision = await defense.requestReview(request.params.id, contextOf(request));
      if (!decision) {
        return reply.status(404).send({
          error: { code: 'DECISION_NOT_FOUND', message: 'No automated decision about you has this id.' },
        });
      }
      return reply.status(202).send({ decision: view(decision) });
    },
  );
}
