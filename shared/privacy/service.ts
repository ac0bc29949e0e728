/**
 * The privacy capability as one object the API, the bot and the workers share: consent, requests with their
 * deadlines, and the jobs that carry out exports and erasures (queued through `enqueue`, ids only).
 */
import { and, eq } from 'drizzle-orm';
import type { AuditLog } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import { users } from '../db/schema.ts';
import type { AuditSource } from '../db/schema-audit.ts';
import type { ConsentMethod, PrivacyRequestRow } from '../db/schema-privacy.ts';
import { privacyRequests } from '../db/schema-privacy.ts';
import { normaliseLanguageCode } from '../identity/users.ts';
import {
  type ConsentResult,
  type ControllerInfo,
  hasCurrentConsentDecisions,
  listPurposes,
  mayProcess,
  type PurposeView,
  recordConsent,
  setObjection,
  setRestriction,
} from './consent.ts';
import { isPurposeId, PURPOSES, type PurposeId } from './data-map.ts';
import { privacyError } from './errors.ts';
import { buildPolicy, type PolicyDocument } from './policy.ts';
import {
  cancelErasure,
  completeRequest,
  createRequest,
  extendRequest,
  getRequest,
  listRequests,
  mintDownloadToken,
  openRequestOf,
  requestQueue,
} from './requests.ts';

/** Jobs of the `privacy` queue: ids only, never personal data. */
export type PrivacyJob =
  | { kind: 'export'; requestId: string }
  | { kind: 'erase'; requestId: string }
  | { kind: 'erasure-sweep' }
  | { kind: 'retention'; dryRun?: boolean }
  | { kind: 'deadlines' };

/** Notices the privacy capability sends through the notify queue (ids and dates only). */
export type PrivacyNotice =
  | { kind: 'privacy-request-extended'; userId: string; requestId: string; until: string }
  | { kind: 'privacy-erasure-scheduled'; userId: string; requestId: string; effectiveAt: string }
  | { kind: 'privacy-erasure-cancelled'; userId: string; requestId: string }
  | { kind: 'security-tip'; userId: string; tip: number };

export interface PrivacyServiceDeps {
  db: Db;
  signDocument: (payload: Record<string, unknown>, typ: string) => Promise<string>;
  controller: ControllerInfo;
  audit: Pick<AuditLog, 'record'>;
  enqueue: (job: PrivacyJob, options?: { delayMs?: number; jobId?: string }) => Promise<void>;
  notify?: ((notice: PrivacyNotice) => Promise<void>) | undefined;
  erasureGraceDays: number;
  /** PUBLIC_URL, for download links. */
  publicUrl: string | undefined;
  now?: () => Date;
}

/** Who asked, for the audit trail. */
export interface Requester {
  userId: string;
  source: AuditSource;
  requestId?: string | undefined;
  ip?: string | undefined;
}

export interface PrivacyService {
  controller: ControllerInfo;
  /** Days between an erasure request and the erasure. */
  erasureGraceDays: number;
  policy(): PolicyDocument;
  purposes(userId: string): Promise<PurposeView[]>;
  hasCurrentConsentDecisions(userId: string): Promise<boolean>;
  mayProcess(userId: string, purposeId: PurposeId): Promise<boolean>;
  recordConsent(
    who: Requester,
    decisions: readonly { purposeId: string; granted: boolean }[],
    method: ConsentMethod,
  ): Promise<ConsentResult>;
  requestExport(who: Requester): Promise<PrivacyRequestRow>;
  /** Remembers the bot message the export job edits with its progress. */
  setStatusMessage(requestId: string, messageId: number): Promise<void>;
  requestErasure(who: Requester): Promise<PrivacyRequestRow>;
  cancelErasure(who: Requester, requestId: string): Promise<PrivacyRequestRow | null>;
  rectify(who: Requester, fields: { languageCode?: string | null | undefined }): Promise<PrivacyRequestRow>;
  setRestriction(who: Requester, restricted: boolean): Promise<PrivacyRequestRow>;
  setObjection(who: Requester, purposeId: string, objected: boolean): Promise<PrivacyRequestRow>;
  listRequests(userId: string): Promise<PrivacyRequestRow[]>;
  /** A fresh 15-minute download link for a finished export of the person, or null. */
  downloadLink(userId: string, requestId: string): Promise<string | null>;
  queue(): Promise<PrivacyRequestRow[]>;
  extend(admin: Requester, requestId: string, months: number, reason: string): Promise<PrivacyRequestRow>;
}

export function createPrivacyService(deps: PrivacyServiceDeps): PrivacyService {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  let cached: PolicyDocument | undefined;
  const audit = (who: Requester, action: string, requestId: string, reasonCode?: string) =>
    deps.audit.record({
      actor: { type: 'user', id: who.userId },
      subjectUserId: who.userId,
      action,
      target: { type: 'privacy_request', id: requestId },
      result: 'success',
      reasonCode,
      source: who.source,
      requestId: who.requestId,
      ip: who.ip,
    });
  const answered = async (who: Requester, kind: 'rectification' | 'restriction' | 'objection', code: string) => {
    const row = await createRequest(db, { userId: who.userId, kind, status: 'completed', now: now() });
    await audit(who, `privacy.${kind}`, row.id, code);
    return row;
  };
  const ensureActive = async (userId: string) => {
    const [user] = await db.select({ status: users.status }).from(users).where(eq(users.id, userId));
    if (!user) throw privacyError('USER_NOT_FOUND');
    if (user.status === 'deleted') throw privacyError('ACCOUNT_ERASED');
  };

  return {
    controller: deps.controller,
    erasureGraceDays: deps.erasureGraceDays,
    policy() {
      cached ??= buildPolicy(deps.controller);
      return cached;
    },
    purposes: (userId) => listPurposes(db, userId),
    hasCurrentConsentDecisions: (userId) => hasCurrentConsentDecisions(db, userId),
    mayProcess: (userId, purposeId) => mayProcess(db, userId, purposeId),
    recordConsent: (who, decisions, method) =>
      recordConsent(
        { db, signDocument: deps.signDocument, controller: deps.controller, audit: deps.audit, now },
        {
          userId: who.userId,
          decisions,
          method,
          source: who.source === 'bot' ? 'bot' : 'api',
          requestId: who.requestId,
        },
      ),

    async requestExport(who) {
      await ensureActive(who.userId);
      if (await openRequestOf(db, who.userId, 'access')) throw privacyError('REQUEST_IN_PROGRESS');
      const row = await createRequest(db, { userId: who.userId, kind: 'access', status: 'pending', now: now() });
      await audit(who, 'privacy.export_requested', row.id);
      await deps.enqueue({ kind: 'export', requestId: row.id }, { jobId: `export-${row.id}` });
      return row;
    },

    async setStatusMessage(requestId, messageId) {
      await db.update(privacyRequests).set({ statusMessageId: messageId }).where(eq(privacyRequests.id, requestId));
    },

    async requestErasure(who) {
      await ensureActive(who.userId);
      const open = await openRequestOf(db, who.userId, 'erasure');
      if (open) throw privacyError('REQUEST_IN_PROGRESS');
      const received = now();
      const effectiveAt = new Date(received.getTime() + deps.erasureGraceDays * 86_400_000);
      const row = await createRequest(db, {
        userId: who.userId,
        kind: 'erasure',
        status: 'scheduled',
        effectiveAt,
        now: received,
      });
      await audit(who, 'privacy.erasure_requested', row.id);
      // The delayed job runs it when the grace period ends; the periodic sweep catches a lost one.
      await deps.enqueue(
        { kind: 'erase', requestId: row.id },
        { delayMs: Math.max(0, effectiveAt.getTime() - received.getTime()), jobId: `erase-${row.id}` },
      );
      if (who.source !== 'bot') {
        await deps.notify?.({
          kind: 'privacy-erasure-scheduled',
          userId: who.userId,
          requestId: row.id,
          effectiveAt: effectiveAt.toISOString(),
        });
      }
      return row;
    },

    async cancelErasure(who, requestId) {
      const row = await cancelErasure(db, who.userId, requestId);
      if (row) {
        await audit(who, 'privacy.erasure_cancelled', row.id);
        if (who.source !== 'bot') {
          await deps.notify?.({ kind: 'privacy-erasure-cancelled', userId: who.userId, requestId: row.id });
        }
      }
      return row;
    },

    async rectify(who, fields) {
      await ensureActive(who.userId);
      if (fields.languageCode !== undefined) {
        await db
          .update(users)
          .set({ languageCode: normaliseLanguageCode(fields.languageCode ?? undefined), updatedAt: now() })
          .where(eq(users.id, who.userId));
      }
      return answered(who, 'rectification', 'PROFILE_UPDATED');
    },

    async setRestriction(who, restricted) {
      await setRestriction(db, who.userId, restricted);
      return answered(who, 'restriction', restricted ? 'RESTRICTED' : 'UNRESTRICTED');
    },

    async setObjection(who, purposeId, objected) {
      if (!isPurposeId(purposeId)) throw privacyError('PURPOSE_NOT_FOUND', { field: 'purposeId' });
      if (PURPOSES[purposeId].legalBasis === 'consent') {
        // Objecting to a consent purpose is withdrawing consent (and lifting the objection is not a grant).
        if (objected) {
          await recordConsent(
            { db, signDocument: deps.signDocument, controller: deps.controller, audit: deps.audit, now },
            { userId: who.userId, decisions: [{ purposeId, granted: false }], method: 'api', source: 'api' },
          );
        }
      } else {
        await setObjection(db, who.userId, purposeId, objected);
      }
      return answered(who, 'objection', objected ? 'OBJECTED' : 'OBJECTION_WITHDRAWN');
    },

    listRequests: (userId) => listRequests(db, userId),

    async downloadLink(userId, requestId) {
      const [row] = await db
        .select()
        .from(privacyRequests)
        .where(
          and(
            eq(privacyRequests.id, requestId),
            eq(privacyRequests.userId, userId),
            eq(privacyRequests.kind, 'access'),
            eq(privacyRequests.status, 'completed'),
          ),
        );
      if (!row) return null;
      const { token } = await mintDownloadToken(db, row.id, now());
      return `${deps.publicUrl ?? ''}/api/v1/privacy/exports/${token}`;
    },

    queue: () => requestQueue(db),

    async extend(admin, requestId, months, reason) {
      const row = await extendRequest(db, { requestId, months, reason });
      await deps.audit.record({
        actor: { type: 'user', id: admin.userId },
        subjectUserId: row.userId,
        action: 'privacy.request_extended',
        target: { type: 'privacy_request', id: row.id },
        result: 'success',
        reasonCode: `EXTENDED_${months}_MONTHS`,
        source: admin.source,
        requestId: admin.requestId,
        ip: admin.ip,
      });
      // Art. 12(3): the person is told of the extension and why.
      await deps.notify?.({
        kind: 'privacy-request-extended',
        userId: row.userId,
        requestId: row.id,
        until: (row.extendedUntil ?? row.dueAt).toISOString(),
      });
      return row;
    },
  };
}

export { completeRequest, getRequest };
