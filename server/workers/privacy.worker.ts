/**
 * The `privacy` queue: exports (streamed to files, sent as documents, progress shown by editing one message),
 * erasures after their grace period (resumable), the sweep that catches erasures whose delayed job was lost,
 * the daily retention run, and the deadline alert to admins. Payloads carry request ids only; every processor
 * is idempotent and calls only shared/.
 */
import { join } from 'node:path';
import type { Job } from 'bullmq';
import { and, eq, notInArray } from 'drizzle-orm';
import { Api, GrammyError, InputFile } from 'grammy';
import { pickLocale, translator } from '#bot/i18n/index.ts';
import type { AuditLog } from '#shared/audit/index.ts';
import type { UserKeys } from '#shared/crypto/user-keys.ts';
import type { Db } from '#shared/db/index.ts';
import { privacyRequests } from '#shared/db/schema-privacy.ts';
import { findUserById, listActiveAdmins } from '#shared/identity/users.ts';
import type { Logger } from '#shared/logger.ts';
import type { Metrics } from '#shared/metrics/index.ts';
import {
  applyRetention,
  type ControllerInfo,
  dueErasures,
  exportSubject,
  getRequest,
  type PrivacyJob,
  removeExpiredExportFiles,
  requestsNeedingAttention,
  runErasure,
} from '#shared/privacy/index.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import type { PrivacyJobResult } from '../queues.ts';

export interface PrivacyWorkerDeps {
  db: Db;
  userKeys: UserKeys;
  controller: ControllerInfo;
  /** DATA_DIR; exports are written to DATA_DIR/exports. */
  dataDir: string;
  sessions?: Pick<SessionStore, 'revokeAll'> | undefined;
  audit?: Pick<AuditLog, 'record'> | undefined;
  metrics?: Pick<Metrics, 'retentionRowsRemoved'> | undefined;
  retentionDryRun?: boolean;
  telegram?: { botToken: string | undefined; apiRoot: string; fetch?: typeof fetch } | undefined;
  logger: Logger;
  /** Tests interrupt an erasure mid-way through this (a crash stand-in). */
  afterErasureStep?: (step: string) => Promise<void> | void;
}

/** The export folder under DATA_DIR. */
export function exportDirOf(dataDir: string): string {
  return join(dataDir, 'exports');
}

/** Progress edits at most this often (Telegram limits edits; the job's own progress is always updated). */
const PROGRESS_EDIT_MIN_MS = 1_000;

export function privacyProcessor(deps: PrivacyWorkerDeps) {
  const { db } = deps;
  const exportDir = exportDirOf(deps.dataDir);
  const token = deps.telegram?.botToken;
  const api = token
    ? new Api(token, {
        apiRoot: deps.telegram?.apiRoot ?? 'https://api.telegram.org',
        ...(deps.telegram?.fetch
          ? { fetch: deps.telegram.fetch as unknown as NonNullable<ConstructorParameters<typeof Api>[1]>['fetch'] }
          : {}),
      })
    : undefined;

  /** Runs a Telegram call; a person who blocked the bot is not an error worth retrying the job for. */
  const tell = async (call: (bot: Api) => Promise<unknown>) => {
    if (!api) return;
    try {
      await call(api);
    } catch (error) {
      if (error instanceof GrammyError && (error.error_code === 403 || error.error_code === 400)) return;
      throw error;
    }
  };

  const exportJob = async (job: Job<PrivacyJob, PrivacyJobResult>, requestId: string) => {
    const request = await getRequest(db, requestId);
    if (request?.kind !== 'access') return { skipped: 'not_found' };
    if (request.status === 'completed' || request.status === 'cancelled') return { skipped: request.status };
    const user = await findUserById(db, request.userId);
    if (!user || user.status === 'deleted') {
      await db
        .update(privacyRequests)
        .set({ status: 'failed', failureCode: 'ACCOUNT_ERASED' })
        .where(eq(privacyRequests.id, requestId));
      return { skipped: 'account_erased' };
    }
    const t = translator(pickLocale(user.languageCode ?? undefined));
    await db.update(privacyRequests).set({ status: 'processing' }).where(eq(privacyRequests.id, requestId));
    let lastEdit = 0;
    const result = await exportSubject(
      { db, cipher: deps.userKeys, controller: deps.controller, dir: exportDir },
      {
        userId: user.id,
        fileId: requestId,
        onProgress: async (percent) => {
          await job.updateProgress(percent);
          await db.update(privacyRequests).set({ progress: percent }).where(eq(privacyRequests.id, requestId));
          const messageId = request.statusMessageId;
          if (messageId !== null && Date.now() - lastEdit >= PROGRESS_EDIT_MIN_MS && percent < 100) {
            lastEdit = Date.now();
            await tell((bot) =>
              bot.editMessageText(user.telegramId, messageId, t('mydata.export_progress', { percent })),
            );
          }
        },
      },
    );
    const [completed] = await db
      .update(privacyRequests)
      .set({ status: 'completed', completedAt: new Date(), progress: 100 })
      .where(and(eq(privacyRequests.id, requestId), eq(privacyRequests.status, 'processing')))
      .returning({ id: privacyRequests.id });
    // Cancelled, failed or erased meanwhile: nothing to record or to send.
    if (!completed) return { skipped: 'not_processing' };
    // The export is done and downloadable from here on: its audit entry comes with it, not after the chat
    // delivery below, which can be slow or fail.
    await deps.audit?.record({
      actor: { type: 'system', id: 'worker:privacy' },
      subjectUserId: user.id,
      action: 'privacy.export_completed',
      target: { type: 'privacy_request', id: requestId },
      result: 'success',
      source: 'worker',
    });
    const delivered = await deliverExport(user, request.statusMessageId, result, t).then(
      () => true,
      // The files stay downloadable from the Mini App; a retry of the job would find it completed and send nothing.
      (error: unknown) => {
        deps.logger.warn(
          { requestId, err: error instanceof Error ? error.message : String(error) },
          'Export completed but not delivered in the chat',
        );
        return false;
      },
    );
    return { counts: result.counts, bytes: result.bytes, delivered };
  };

  /** Tells the person the export is ready (editing the progress message when there is one) and sends both files. */
  const deliverExport = async (
    user: { telegramId: number },
    messageId: number | null,
    result: { jsonPath: string; htmlPath: string },
    t: ReturnType<typeof translator>,
  ) => {
    if (messageId !== null) {
      await tell((bot) => bot.editMessageText(user.telegramId, messageId, t('mydata.export_ready')));
    } else {
      await tell((bot) => bot.sendMessage(user.telegramId, t('mydata.export_ready')));
    }
    await tell((bot) =>
      bot.sendDocument(user.telegramId, new InputFile(result.jsonPath, 'my-data.json'), {
        caption: t('mydata.export_caption_json'),
      }),
    );
    await tell((bot) =>
      bot.sendDocument(user.telegramId, new InputFile(result.htmlPath, 'my-data.html'), {
        caption: t('mydata.export_caption_html'),
      }),
    );
  };

  const eraseJob = async (requestId: string) => {
    const request = await getRequest(db, requestId);
    // The Telegram id is read before the erasure removes it, to say it is done; it never enters a payload.
    const user = request ? await findUserById(db, request.userId) : null;
    const outcome = await runErasure(
      {
        db,
        userKeys: deps.userKeys,
        sessions: deps.sessions,
        exportDir,
        audit: deps.audit,
        ...(deps.afterErasureStep ? { afterStep: deps.afterErasureStep } : {}),
      },
      requestId,
    );
    if (outcome.status === 'completed' && user) {
      const t = translator(pickLocale(user.languageCode ?? undefined));
      await tell((bot) => bot.sendMessage(user.telegramId, t('mydata.erased')));
    }
    return { status: outcome.status };
  };

  return async (job: Job<PrivacyJob, PrivacyJobResult>): Promise<PrivacyJobResult> => {
    const data = job.data;
    switch (data.kind) {
      case 'export':
        try {
          return await exportJob(job, data.requestId);
        } catch (error) {
          if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
            // Only an unfinished request fails: one completed (or cancelled) meanwhile keeps its status.
            await db
              .update(privacyRequests)
              .set({ status: 'failed', failureCode: 'EXPORT_FAILED' })
              .where(
                and(
                  eq(privacyRequests.id, data.requestId),
                  notInArray(privacyRequests.status, ['completed', 'cancelled']),
                ),
              );
          }
          throw error;
        }
      case 'erase':
        return eraseJob(data.requestId);
      case 'erasure-sweep': {
        const due = await dueErasures(db);
        let completed = 0;
        for (const request of due) if ((await eraseJob(request.id)).status === 'completed') completed += 1;
        // Decrypted export files do not outlive their download period by more than a day.
        const filesRemoved = await removeExpiredExportFiles(exportDir);
        return { due: due.length, completed, filesRemoved };
      }
      case 'retention': {
        const report = await applyRetention({ db, dryRun: data.dryRun ?? deps.retentionDryRun ?? false });
        if (!report.dryRun) {
          for (const result of report.results) {
            if (result.rows > 0) deps.metrics?.retentionRowsRemoved.inc({ table: result.table }, result.rows);
          }
        }
        deps.logger.info(
          { dryRun: report.dryRun, total: report.total, complete: report.complete },
          report.dryRun ? 'Retention dry run' : 'Retention run',
        );
        return report as unknown as PrivacyJobResult;
      }
      case 'deadlines': {
        const { overdue, nearDue } = await requestsNeedingAttention(db);
        if (overdue.length + nearDue.length === 0) return { alerted: 0, overdue: 0, nearDue: 0 };
        const admins = await listActiveAdmins(db);
        for (const admin of admins) {
          const t = translator(pickLocale(admin.languageCode ?? undefined));
          await tell((bot) =>
            bot.sendMessage(admin.telegramId, t('dsr.alert', { overdue: overdue.length, near: nearDue.length }), {
              parse_mode: 'HTML',
            }),
          );
        }
        return { alerted: api ? admins.length : 0, overdue: overdue.length, nearDue: nearDue.length };
      }
      default:
        throw new Error(`Unknown privacy job ${String((data as { kind: unknown }).kind)}`);
    }
  };
}
