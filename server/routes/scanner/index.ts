/**
 * Admin: the latest vulnerability-scan report, and a scan on demand (queued on the `scanner` queue; the
 * answer is the job id). Requests are audited.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Principal } from '#shared/identity/principal.ts';
import type { ScannerService } from '#shared/scanner/index.ts';

export interface ScannerRoutesOptions {
  scanner: ScannerService;
  audit: AuditLog;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const Counts = Type.Object({
  critical: Type.Integer(),
  high: Type.Integer(),
  medium: Type.Integer(),
  low: Type.Integer(),
});
const DateTime = Type.String({ format: 'date-time' });
const FindingBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  kind: Type.Union([Type.Literal('dependency'), Type.Literal('config'), Type.Literal('http')]),
  rule: Type.String(),
  severity: Type.Union([Type.Literal('critical'), Type.Literal('high'), Type.Literal('medium'), Type.Literal('low')]),
  title: Type.String(),
  detail: Type.String(),
  firstSeenAt: DateTime,
  lastSeenAt: DateTime,
  new: Type.Boolean(),
});
const ScanBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  trigger: Type.String(),
  startedAt: DateTime,
  finishedAt: DateTime,
  counts: Counts,
  newCount: Type.Integer(),
  resolvedCount: Type.Integer(),
  packagesChecked: Type.Integer(),
  advisoriesLoaded: Type.Integer(),
  advisoriesUpdatedAt: Type.Union([DateTime, Type.Null()]),
  findings: Type.Array(FindingBody),
});

export async function scannerRoutes(fastify: FastifyInstance, options: ScannerRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/v1/admin/scans/latest',
    {
      config: { permission: 'admin:security:read' },
      schema: {
        summary: 'The latest vulnerability scan and its open findings (most severe first)',
        tags: ['admin'],
        response: {
          200: Type.Object({ scan: Type.Union([ScanBody, Type.Null()]) }),
          401: ErrorBody,
          403: ErrorBody,
        },
      },
    },
    async () => {
      const report = await options.scanner.latest();
      if (!report) return { scan: null };
      return {
        scan: {
          ...report,
          startedAt: report.startedAt.toISOString(),
          finishedAt: report.finishedAt.toISOString(),
          advisoriesUpdatedAt: report.advisoriesUpdatedAt?.toISOString() ?? null,
          findings: report.findings.map((item) => ({
            ...item,
            firstSeenAt: item.firstSeenAt.toISOString(),
            lastSeenAt: item.lastSeenAt.toISOString(),
          })),
        },
      };
    },
  );

  app.post(
    '/api/v1/admin/scans',
    {
      config: { permission: 'admin:security:write', requires: ['redis'] },
      schema: {
        summary: 'Run a vulnerability scan now (queued; a scan already waiting or running is reused)',
        tags: ['admin'],
        response: {
          202: Type.Object({ jobId: Type.String(), queued: Type.Boolean() }),
          401: ErrorBody,
          403: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const principal = request.principal as Principal;
      const result = await options.scanner.request({
        trigger: 'api',
        requestedBy: principal.userId,
      });
      await options.audit.record({
        actor:
          principal.kind === 'user' ? { type: 'user', id: principal.userId } : { type: 'api_key', id: principal.keyId },
        action: 'scanner.scan_requested',
        target: { type: 'scan_job', id: result.jobId },
        result: 'success',
        reasonCode: result.queued ? 'QUEUED' : 'ALREADY_RUNNING',
        source: 'api',
        requestId: request.id,
        ip: request.ip,
      });
      return reply.code(202).send(result);
    },
  );
}
