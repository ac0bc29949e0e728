/**
 * Privacy: the generated policy (GET /privacy, JSON), consent per purpose, data subject requests (export,
 * erasure with a grace period, rectification, restriction, objection) and the admins' queue with deadlines.
 * Thin adapter over shared/privacy.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Db } from '#shared/db/index.ts';
import type { PrivacyRequestRow } from '#shared/db/schema-privacy.ts';
import type { Principal } from '#shared/identity/principal.ts';
import {
  applyRetention,
  art30Record,
  getPrivacySettings,
  OPEN_STATUSES,
  type PrivacyService,
  type PurposeView,
  privacyError,
  renderPolicyHtml,
  requestForDownloadToken,
} from '#shared/privacy/index.ts';
import { DEFAULT_STEP_UP_SECONDS } from '../../plugins/auth.ts';

export interface PrivacyRoutesOptions {
  db: Db;
  privacy: PrivacyService;
  /** DATA_DIR: exports are read from DATA_DIR/exports. */
  dataDir: string;
  /** True when the person has a second factor: erasure then needs a fresh step-up. */
  isMfaEnrolled?: ((userId: string) => Promise<boolean>) | undefined;
}

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});
const PurposeBody = Type.Object({
  id: Type.String(),
  title: Type.String(),
  description: Type.String(),
  version: Type.String(),
  legalBasis: Type.String(),
  required: Type.Boolean(),
  granted: Type.Boolean(),
  grantedAt: Type.Union([Type.String(), Type.Null()]),
  decided: Type.Boolean(),
  objected: Type.Boolean(),
});
const RequestBody = Type.Object({
  id: Type.String(),
  kind: Type.Union([
    Type.Literal('access'),
    Type.Literal('erasure'),
    Type.Literal('rectification'),
    Type.Literal('restriction'),
    Type.Literal('objection'),
  ]),
  status: Type.String(),
  createdAt: Type.String(),
  dueAt: Type.String(),
  extendedUntil: Type.Union([Type.String(), Type.Null()]),
  extensionReason: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Union([Type.Integer(), Type.Null()]),
  effectiveAt: Type.Union([Type.String(), Type.Null()]),
  completedAt: Type.Union([Type.String(), Type.Null()]),
  downloadUrl: Type.Union([Type.String(), Type.Null()]),
});
const PurposeParams = Type.Object(
  { purposeId: Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z][a-z0-9_]*$' }) },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.String({ format: 'uuid', maxLength: 36 }) }, { additionalProperties: false });

const iso = (value: Date | null) => (value ? value.toISOString() : null);

function requestView(row: PrivacyRequestRow, downloadUrl: string | null = null) {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    createdAt: row.createdAt.toISOString(),
    dueAt: row.dueAt.toISOString(),
    extendedUntil: iso(row.extendedUntil),
    extensionReason: row.extensionReason,
    progress: row.progress,
    effectiveAt: iso(row.effectiveAt),
    completedAt: iso(row.completedAt),
    downloadUrl,
  };
}

function purposeView(purpose: PurposeView) {
  return { ...purpose };
}

export async function privacyRoutes(fastify: FastifyInstance, options: PrivacyRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { privacy } = options;
  const principalOf = (request: FastifyRequest) => request.principal as Principal;
  const who = (request: FastifyRequest) => ({
    userId: principalOf(request).userId,
    source: 'api' as const,
    requestId: request.id,
    ip: request.ip,
  });

  app.get(
    '/privacy',
    {
      config: { public: true },
      schema: { summary: 'The privacy policy (HTML)', tags: ['privacy'], produces: ['text/html'] },
    },
    async (_request, reply) => {
      const policy = privacy.policy();
      // No script and no inline style: the page is served under the strict default CSP of every non-app page.
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('etag', `"${policy.version}"`)
        .send(renderPolicyHtml(policy));
    },
  );

  app.get(
    '/api/v1/privacy/policy',
    {
      config: { public: true },
      schema: {
        summary: 'The privacy policy (JSON), versioned by its content hash',
        tags: ['privacy'],
        response: { 200: Type.Object({ version: Type.String() }, { additionalProperties: true }) },
      },
    },
    async () => privacy.policy(),
  );

  app.get(
    '/api/v1/privacy/consents',
    {
      config: { permission: 'privacy:read' },
      schema: {
        summary: 'Every purpose, with your consent or objection',
        tags: ['privacy'],
        response: { 200: Type.Object({ policyVersion: Type.String(), purposes: Type.Array(PurposeBody) }) },
      },
    },
    async (request) => ({
      policyVersion: privacy.policy().version,
      purposes: (await privacy.purposes(principalOf(request).userId)).map(purposeView),
    }),
  );

  app.put(
    '/api/v1/privacy/consents/:purposeId',
    {
      config: { permission: 'privacy:write' },
      schema: {
        summary: 'Give or withdraw consent for one purpose (returns a signed consent receipt)',
        tags: ['privacy'],
        params: PurposeParams,
        body: Type.Object({ granted: Type.Boolean() }, { additionalProperties: false }),
        response: {
          200: Type.Intersect([PurposeBody, Type.Object({ receipt: Type.String(), receiptId: Type.String() })]),
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      const result = await privacy.recordConsent(
        who(request),
        [{ purposeId: request.params.purposeId, granted: request.body.granted }],
        'webapp',
      );
      const purposes = await privacy.purposes(principalOf(request).userId);
      const purpose = purposes.find((item) => item.id === request.params.purposeId);
      if (!purpose) throw privacyError('PURPOSE_NOT_FOUND');
      return { ...purposeView(purpose), receipt: result.jws, receiptId: result.receiptId };
    },
  );

  app.put(
    '/api/v1/privacy/objections/:purposeId',
    {
      config: { permission: 'privacy:write' },
      schema: {
        summary: 'Object (or stop objecting) to an optional purpose (GDPR Art. 21)',
        tags: ['privacy'],
        params: PurposeParams,
        body: Type.Object({ objected: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: PurposeBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      await privacy.setObjection(who(request), request.params.purposeId, request.body.objected);
      const purpose = (await privacy.purposes(principalOf(request).userId)).find(
        (item) => item.id === request.params.purposeId,
      );
      if (!purpose) throw privacyError('PURPOSE_NOT_FOUND');
      return purposeView(purpose);
    },
  );

  app.get(
    '/api/v1/privacy/restriction',
    {
      config: { permission: 'privacy:read' },
      schema: {
        summary: 'Whether processing of your data is restricted to storage (GDPR Art. 18)',
        tags: ['privacy'],
        response: {
          200: Type.Object({ restricted: Type.Boolean(), restrictedAt: Type.Union([Type.String(), Type.Null()]) }),
        },
      },
    },
    async (request) => {
      const settings = await getPrivacySettings(options.db, principalOf(request).userId);
      return { restricted: settings.restricted, restrictedAt: settings.restrictedAt?.toISOString() ?? null };
    },
  );

  app.put(
    '/api/v1/privacy/restriction',
    {
      config: { permission: 'privacy:write' },
      schema: {
        summary: 'Restrict processing to storage (GDPR Art. 18), or lift the restriction',
        tags: ['privacy'],
        body: Type.Object({ restricted: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: Type.Object({ restricted: Type.Boolean(), request: RequestBody }) },
      },
    },
    async (request) => {
      const row = await privacy.setRestriction(who(request), request.body.restricted);
      return { restricted: request.body.restricted, request: requestView(row) };
    },
  );

  app.post(
    '/api/v1/privacy/rectify',
    {
      config: { permission: 'privacy:write' },
      schema: {
        summary: 'Correct your data (GDPR Art. 16)',
        tags: ['privacy'],
        body: Type.Object(
          {
            languageCode: Type.Optional(
              Type.Union([
                Type.String({ minLength: 2, maxLength: 35, pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$' }),
                Type.Null(),
              ]),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ request: RequestBody }), 409: ErrorBody },
      },
    },
    async (request) => ({ request: requestView(await privacy.rectify(who(request), request.body)) }),
  );

  app.get(
    '/api/v1/privacy/requests',
    {
      config: { permission: 'privacy:read' },
      schema: {
        summary: 'Your data requests, with deadlines and export progress',
        tags: ['privacy'],
        response: { 200: Type.Object({ requests: Type.Array(RequestBody) }) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const userId = principal.userId;
      const rows = await privacy.listRequests(userId);
      // A fresh 15-minute link for the newest finished export only (only its hash is stored), and only to a
      // caller who could ask for the export now: with MFA on, a session with a fresh second factor.
      const latest = rows.find((row) => row.kind === 'access' && row.status === 'completed');
      const mayDownload = principal.kind === 'user' ? !(await stepUpMissing(principal)) : !(await isEnrolled(userId));
      const link = latest && mayDownload ? await privacy.downloadLink(userId, latest.id) : null;
      return { requests: rows.map((row) => requestView(row, row.id === latest?.id ? link : null)) };
    },
  );

  app.post(
    '/api/v1/privacy/export',
    {
      // With MFA on, a copy of everything needs a fresh second factor (an API key of such a person is refused).
      config: { permission: 'privacy:write', requires: ['redis'], stepUpIfEnrolledSeconds: DEFAULT_STEP_UP_SECONDS },
      schema: {
        summary: 'Ask for a copy of your data (GDPR Arts. 15, 20); delivered in the chat and as a download link',
        tags: ['privacy'],
        response: { 202: Type.Object({ request: RequestBody }), 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const row = await privacy.requestExport(who(request));
      return reply.status(202).send({ request: requestView(row) });
    },
  );

  app.post(
    '/api/v1/privacy/erasure',
    {
      config: { permission: 'privacy:write', requires: ['redis'] },
      schema: {
        summary: 'Ask for your data to be deleted (GDPR Art. 17), after a grace period you can cancel in',
        description: `Needs a second factor verified within ${DEFAULT_STEP_UP_SECONDS} s when two-factor authentication is on.`,
        tags: ['privacy'],
        response: { 202: Type.Object({ request: RequestBody }), 403: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      // A signed-in person only: an API key cannot confirm who is asking to delete everything.
      if (principal.kind !== 'user') {
        return reply.status(403).send({
          error: { code: 'SESSION_REQUIRED', message: 'Ask for erasure from a signed-in session, not an API key.' },
        });
      }
      if (await stepUpMissing(principal)) {
        return reply.status(403).send({
          error: {
            code: 'STEP_UP_REQUIRED',
            message: 'Confirm with your second factor (POST /api/v1/auth/step-up), then retry.',
            details: { maxAgeSeconds: DEFAULT_STEP_UP_SECONDS },
          },
        });
      }
      const row = await privacy.requestErasure(who(request));
      return reply.status(202).send({ request: requestView(row) });
    },
  );

  async function isEnrolled(userId: string): Promise<boolean> {
    return options.isMfaEnrolled !== undefined && (await options.isMfaEnrolled(userId));
  }

  async function stepUpMissing(principal: Extract<Principal, { kind: 'user' }>): Promise<boolean> {
    if (!(await isEnrolled(principal.userId))) return false;
    return (
      principal.secondFactorAt === undefined || Date.now() / 1000 - principal.secondFactorAt > DEFAULT_STEP_UP_SECONDS
    );
  }

  app.delete(
    '/api/v1/privacy/requests/:id',
    {
      config: { permission: 'privacy:write' },
      schema: {
        summary: 'Cancel an erasure during its grace period',
        tags: ['privacy'],
        params: IdParams,
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const row = await privacy.cancelErasure(who(request), request.params.id);
      if (!row) {
        const mine = (await privacy.listRequests(principalOf(request).userId)).find((r) => r.id === request.params.id);
        // Someone else's request answers exactly like a missing one.
        throw privacyError(mine ? 'REQUEST_NOT_CANCELLABLE' : 'REQUEST_NOT_FOUND');
      }
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/privacy/exports/:token',
    {
      // The token is the credential: 256 random bits, stored only as a hash, valid 15 minutes.
      config: { public: true },
      schema: {
        summary: 'Download a finished export (a short-lived link from GET /api/v1/privacy/requests)',
        tags: ['privacy'],
        params: Type.Object(
          { token: Type.String({ minLength: 20, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' }) },
          { additionalProperties: false },
        ),
        querystring: Type.Object(
          { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('html')])) },
          { additionalProperties: false },
        ),
        // The file is streamed as it is on disk (a stream bypasses the serializer).
        response: { 200: Type.String({ description: 'The export file (JSON or HTML)' }), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const row = await requestForDownloadToken(options.db, request.params.token);
      if (!row) throw privacyError('DOWNLOAD_LINK_INVALID');
      const format = request.query.format ?? 'json';
      const path = join(options.dataDir, 'exports', `${row.id}.${format}`);
      const file = await stat(path).catch(() => null);
      if (!file) throw privacyError('DOWNLOAD_LINK_INVALID');
      return reply
        .header('content-type', format === 'json' ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8')
        .header('content-disposition', `attachment; filename="my-data.${format}"`)
        .header('content-length', String(file.size))
        .send(createReadStream(path) as never); // streamed: never held in memory
    },
  );

  // --- Admin ---

  app.get(
    '/api/v1/admin/privacy/requests',
    {
      config: { permission: 'admin:users:read' },
      schema: {
        summary: 'Open data requests of everyone, most urgent first',
        tags: ['admin', 'privacy'],
        response: {
          200: Type.Object({
            requests: Type.Array(
              Type.Intersect([
                RequestBody,
                Type.Object({ userId: Type.String(), deadline: Type.String(), overdue: Type.Boolean() }),
              ]),
            ),
          }),
        },
      },
    },
    async () => {
      const now = Date.now();
      return {
        requests: (await privacy.queue()).map((row) => {
          const deadline = row.extendedUntil ?? row.dueAt;
          return {
            ...requestView(row),
            userId: row.userId,
            deadline: deadline.toISOString(),
            overdue: deadline.getTime() < now && OPEN_STATUSES.includes(row.status),
          };
        }),
      };
    },
  );

  app.post(
    '/api/v1/admin/privacy/requests/:id/extend',
    {
      config: { permission: 'admin:users:write' },
      schema: {
        summary: 'Extend a request’s deadline by one or two months, with a reason the person is told',
        tags: ['admin', 'privacy'],
        params: IdParams,
        body: Type.Object(
          {
            months: Type.Union([Type.Literal(1), Type.Literal(2)]),
            reason: Type.String({ minLength: 10, maxLength: 500 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ request: RequestBody }), 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const admin = principalOf(request);
      const row = await privacy.extend(
        { userId: admin.userId, source: 'api', requestId: request.id, ip: request.ip },
        request.params.id,
        request.body.months,
        request.body.reason.trim(),
      );
      return { request: requestView(row) };
    },
  );

  app.get(
    '/api/v1/admin/privacy/processing-record',
    {
      config: { permission: 'admin:security:read' },
      schema: {
        summary: 'The Art. 30 record of processing activities, generated from the data map',
        tags: ['admin', 'privacy'],
        response: { 200: Type.Object({ policyVersion: Type.String() }, { additionalProperties: true }) },
      },
    },
    async () => art30Record(privacy.policy()),
  );

  app.get(
    '/api/v1/admin/privacy/retention',
    {
      config: { permission: 'admin:security:read' },
      schema: {
        summary: 'What the retention job would remove now (a dry run)',
        tags: ['admin', 'privacy'],
        response: {
          200: Type.Object({ dryRun: Type.Boolean(), total: Type.Integer() }, { additionalProperties: true }),
        },
      },
    },
    async () => applyRetention({ db: options.db, dryRun: true }),
  );
}
