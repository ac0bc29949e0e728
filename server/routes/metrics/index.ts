/**
 * `GET /metrics` (Prometheus text format), for a scraper holding METRICS_TOKEN (compared in constant time)
 * or a signed-in admin; and `GET /api/v1/admin/security/overview`, the KPIs behind the admin dashboards.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { constantTimeEqual } from '#shared/crypto/random.ts';
import type { Db } from '#shared/db/index.ts';
import type { Defense } from '#shared/defense/index.ts';
import { roleHas } from '#shared/identity/rbac.ts';
import { METRICS_CONTENT_TYPE, type Metrics } from '#shared/metrics/index.ts';
import { computeKpis, eventsByHour } from '#shared/metrics/kpis.ts';
import type { TokenSigner } from '#shared/tokens/jwt.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';

export interface MetricsRoutesOptions {
  db: Db;
  metrics: Metrics;
  defense: Pick<Defense, 'decisions'>;
  metricsToken: string | undefined;
  signer: TokenSigner;
  sessions: SessionStore;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const Rate = Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()]);

/** The bearer value of the request, if any. */
function bearerOf(request: FastifyRequest): string | null {
  const match = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(request.headers.authorization ?? '');
  return match?.[1] ?? null;
}

export async function metricsRoutes(fastify: FastifyInstance, options: MetricsRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  /** 'ok', or why not: no credential (401), a wrong one (401), or a person who is not an admin (403). */
  async function scrapeAllowed(
    request: FastifyRequest,
  ): Promise<'ok' | 'AUTH_REQUIRED' | 'TOKEN_INVALID' | 'PERMISSION_DENIED'> {
    const bearer = bearerOf(request);
    if (!bearer) return 'AUTH_REQUIRED';
    if (options.metricsToken !== undefined && constantTimeEqual(bearer, options.metricsToken)) return 'ok';
    const verified = await options.signer.verify(bearer);
    if (!verified.ok) return 'TOKEN_INVALID';
    const session = await options.sessions.get(verified.claims.sid);
    if (!session || session.userId !== verified.claims.sub) return 'TOKEN_INVALID';
    return roleHas(session.role, 'admin:security:read') ? 'ok' : 'PERMISSION_DENIED';
  }

  app.get(
    '/metrics',
    {
      config: { requires: ['redis'] },
      schema: {
        summary: 'Prometheus metrics (METRICS_TOKEN bearer, or an admin’s access token)',
        tags: ['metrics'],
        response: { 200: Type.String(), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const allowed = await scrapeAllowed(request);
      if (allowed !== 'ok') {
        const status = allowed === 'PERMISSION_DENIED' ? 403 : 401;
        if (status === 401) reply.header('www-authenticate', 'Bearer');
        return reply.status(status).send({
          error: {
            code: allowed,
            message:
              status === 403 ? 'Metrics are for admins.' : 'Send METRICS_TOKEN or an admin token as a Bearer token.',
          },
        });
      }
      reply.header('content-type', METRICS_CONTENT_TYPE);
      reply.header('cache-control', 'no-store');
      return options.metrics.scrape();
    },
  );

  app.get(
    '/api/v1/admin/security/overview',
    {
      config: { permission: 'admin:security:read' },
      schema: {
        summary: 'Security KPIs, events per hour and active decisions (admin dashboard)',
        tags: ['admin', 'metrics'],
        response: {
          200: Type.Object({
            kpis: Type.Object({
              authSuccessRate: Rate,
              failedLoginRate: Rate,
              dsrOnTimeRate: Rate,
              highRiskFindings: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
            }),
            eventsByHour: Type.Array(
              Type.Object({ hour: Type.String(), count: Type.Integer(), failures: Type.Integer() }),
            ),
            activeDecisions: Type.Integer({ minimum: 0 }),
          }),
        },
      },
    },
    async () => {
      const [kpis, hours, active] = await Promise.all([
        computeKpis(options.db),
        eventsByHour(options.db, 24),
        options.defense.decisions.listActive(10_000),
      ]);
      return { kpis, eventsByHour: hours, activeDecisions: active.length };
    },
  );
}
