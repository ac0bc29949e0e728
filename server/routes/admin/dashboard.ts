/**
 * Admin dashboard reads for the Mini App: the user list with roles, audit-trail search and the trail's
 * chain verification. Admins only, and only within a recent step-up (a stolen admin session alone cannot
 * browse the trail). Entries carry ids and codes, never sealed details.
 */
import type { KeyObject } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { and, count, desc, eq, like, lt, type SQL } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { verifyAuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import { AUDIT_RESULTS, auditLog, USER_ROLES, users } from '#shared/db/schema.ts';
import { openTelegramIds } from '#shared/identity/users.ts';
import { DEFAULT_STEP_UP_SECONDS } from '../../plugins/auth.ts';

export interface DashboardRoutesOptions {
  db: Db;
  /** Public key of the audit checkpoints (derived from MASTER_KEY). */
  auditPublicKey: KeyObject;
}

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});
const ERRORS = { 401: ErrorBody, 403: ErrorBody };
const MAX_PAGE = 100;
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

/** A full verification walks the whole trail: at most one at a time, and its result reused briefly. */
const VERIFICATION_CACHE_MS = 30_000;

export async function dashboardRoutes(fastify: FastifyInstance, options: DashboardRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = options;

  app.get(
    '/api/v1/admin/users',
    {
      config: { permission: 'admin:users:read', stepUpSeconds: DEFAULT_STEP_UP_SECONDS },
      schema: {
        summary: 'Users and their roles, newest first',
        tags: ['admin'],
        querystring: Type.Object(
          {
            role: Type.Optional(Type.Union(USER_ROLES.map((role) => Type.Literal(role)))),
            limit: Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 50 }),
            offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            total: Type.Integer(),
            users: Type.Array(
              Type.Object({
                id: Type.String({ format: 'uuid' }),
                /** Null for a person whose erasure is under way (their Telegram id can no longer be read). */
                telegramId: Nullable(Type.Integer()),
                role: Type.String(),
                status: Type.String(),
                createdAt: Type.String({ format: 'date-time' }),
              }),
            ),
          }),
          ...ERRORS,
        },
      },
    },
    async (request) => {
      const { role, limit, offset } = request.query;
      const where = role ? eq(users.role, role) : undefined;
      const [rows, totals] = await Promise.all([
        db
          .select({
            id: users.id,
            legacyTelegramId: users.legacyTelegramId,
            telegramIdSealed: users.telegramIdSealed,
            role: users.role,
            status: users.status,
            createdAt: users.createdAt,
          })
          .from(users)
          .where(where)
          .orderBy(desc(users.createdAt), desc(users.id))
          .limit(limit)
          .offset(offset),
        db.select({ total: count() }).from(users).where(where),
      ]);
      // Telegram ids are stored sealed with each person's key: opened here, for this page only.
      const telegramIds = await openTelegramIds(db, rows);
      return {
        total: Number(totals[0]?.total ?? 0),
        users: rows.map(({ id, role, status, createdAt }, index) => ({
          id,
          telegramId: telegramIds[index] ?? null,
          role,
          status,
          createdAt: createdAt.toISOString(),
        })),
      };
    },
  );

  app.get(
    '/api/v1/admin/audit',
    {
      config: { permission: 'admin:audit:read', stepUpSeconds: DEFAULT_STEP_UP_SECONDS },
      schema: {
        summary: 'Search the audit trail, newest first',
        tags: ['admin'],
        querystring: Type.Object(
          {
            action: Type.Optional(
              Type.String({
                pattern: '^[a-z][a-z0-9_.]{0,63}$',
                maxLength: 64,
                description: 'An action or its dotted prefix.',
              }),
            ),
            result: Type.Optional(Type.Union(AUDIT_RESULTS.map((result) => Type.Literal(result)))),
            userId: Type.Optional(Type.String({ format: 'uuid', maxLength: 36 })),
            beforeSeq: Type.Optional(Type.Integer({ minimum: 1 })),
            limit: Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            entries: Type.Array(
              Type.Object({
                seq: Type.Integer(),
                occurredAt: Type.String({ format: 'date-time' }),
                action: Type.String(),
                result: Type.String(),
                reasonCode: Nullable(Type.String()),
                actorType: Type.String(),
                actorId: Nullable(Type.String()),
                subjectUserId: Nullable(Type.String()),
                targetType: Nullable(Type.String()),
                targetId: Nullable(Type.String()),
                source: Type.String(),
              }),
            ),
            nextBeforeSeq: Nullable(Type.Integer()),
          }),
          ...ERRORS,
        },
      },
    },
    async (request) => {
      const { action, result, userId, beforeSeq, limit } = request.query;
      const filters: SQL[] = [];
      // The pattern above admits no LIKE wildcards, so the prefix match is literal.
      if (action)
        filters.push(action.endsWith('.') ? like(auditLog.action, `${action}%`) : eq(auditLog.action, action));
      if (result) filters.push(eq(auditLog.result, result));
      if (userId) filters.push(eq(auditLog.subjectUserId, userId));
      if (beforeSeq) filters.push(lt(auditLog.seq, beforeSeq));
      const rows = await db
        .select({
          seq: auditLog.seq,
          occurredAt: auditLog.occurredAt,
          action: auditLog.action,
          result: auditLog.result,
          reasonCode: auditLog.reasonCode,
          actorType: auditLog.actorType,
          actorId: auditLog.actorId,
          subjectUserId: auditLog.subjectUserId,
          targetType: auditLog.targetType,
          targetId: auditLog.targetId,
          source: auditLog.source,
        })
        .from(auditLog)
        .where(filters.length > 0 ? and(...filters) : undefined)
        .orderBy(desc(auditLog.seq))
        .limit(limit);
      const last = rows.at(-1);
      return {
        entries: rows.map((row) => ({ ...row, occurredAt: row.occurredAt.toISOString() })),
        nextBeforeSeq: rows.length === limit && last ? last.seq : null,
      };
    },
  );

  let cached: { at: number; body: VerificationBody } | undefined;
  let running: Promise<VerificationBody> | undefined;
  const verify = async (): Promise<VerificationBody> => {
    const result = await verifyAuditLog(db, { publicKeys: [options.auditPublicKey] });
    return {
      ok: result.ok,
      checked: result.checked,
      firstSeq: result.firstSeq,
      lastSeq: result.lastSeq,
      headHash: result.headHash,
      firstBroken: result.firstBroken ? { seq: result.firstBroken.seq, reason: result.firstBroken.reason } : null,
      latestCheckpoint: result.checkpoints.latest
        ? { seq: result.checkpoints.latest.seq, createdAt: result.checkpoints.latest.createdAt.toISOString() }
        : null,
      unsignedEntries: result.checkpoints.unsignedEntries,
      verifiedAt: new Date().toISOString(),
    };
  };

  app.get(
    '/api/v1/admin/audit/verification',
    {
      config: { permission: 'admin:audit:read', stepUpSeconds: DEFAULT_STEP_UP_SECONDS },
      schema: {
        summary: 'Verify the audit trail’s hash chain and signed checkpoints',
        tags: ['admin'],
        response: { 200: VerificationSchema, ...ERRORS },
      },
    },
    async () => {
      if (cached && Date.now() - cached.at < VERIFICATION_CACHE_MS) return cached.body;
      running ??= verify().finally(() => {
        running = undefined;
      });
      const body = await running;
      cached = { at: Date.now(), body };
      return body;
    },
  );
}

const VerificationSchema = Type.Object({
  ok: Type.Boolean(),
  checked: Type.Integer(),
  firstSeq: Nullable(Type.Integer()),
  lastSeq: Nullable(Type.Integer()),
  headHash: Nullable(Type.String()),
  firstBroken: Nullable(Type.Object({ seq: Type.Integer(), reason: Type.String() })),
  latestCheckpoint: Nullable(Type.Object({ seq: Type.Integer(), createdAt: Type.String({ format: 'date-time' }) })),
  unsignedEntries: Type.Integer(),
  verifiedAt: Type.String({ format: 'date-time' }),
});
type VerificationBody = {
  ok: boolean;
  checked: number;
  firstSeq: number | null;
  lastSeq: number | null;
  headHash: string | null;
  firstBroken: { seq: number; reason: string } | null;
  latestCheckpoint: { seq: number; createdAt: string } | null;
  unsignedEntries: number;
  verifiedAt: string;
};
