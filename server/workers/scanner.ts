/**
 * The `scanner` queue: the daily scan (a job scheduler, server/queues.ts) and scans asked for from the bot
 * or the API. The processor runs shared/scanner's scan, alerts every admin about new high and critical
 * findings, and, for a scan started from the bot, edits the admin's status message with progress and then
 * the report. The producer side (`createScannerService`) is what the API and the bot call.
 */
import type { Job, Queue } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import { Api, GrammyError } from 'grammy';
import { renderScanProgress, renderScanReport } from '#bot/features/scan.ts';
import { pickLocale, type Translate, translator } from '#bot/i18n/index.ts';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Config, Secrets } from '#shared/config/index.ts';
import type { Db } from '#shared/db/index.ts';
import { users } from '#shared/db/schema.ts';
import { roleHas } from '#shared/identity/rbac.ts';
import { findUserById } from '#shared/identity/users.ts';
import type { Logger } from '#shared/logger.ts';
import {
  type HeaderExpectation,
  latestScanReport,
  type RedisCommander,
  runScan,
  type ScannerService,
  type ScanPhase,
} from '#shared/scanner/index.ts';
import type { Notify } from '../notify.ts';
import { OTHER_HEADERS, WEBAPP_HEADERS } from '../plugins/security-headers.ts';
import type { ScannerJob, ScannerJobResult } from '../queues.ts';

/** The pages the HTTP self-check requests, with the product's header policy for each. */
export const SELF_CHECK_PAGES: readonly HeaderExpectation[] = [
  { path: '/healthz', headers: OTHER_HEADERS },
  { path: '/app/', headers: WEBAPP_HEADERS },
  // An authenticated API route (answering 401 here) must also forbid caching.
  { path: '/api/v1/me', headers: { ...OTHER_HEADERS, 'cache-control': 'no-store' } },
];

/** The producer side: the latest report from the database, scans queued on the `scanner` queue. */
export function createScannerService(deps: { db: Db; queue: Queue<ScannerJob, ScannerJobResult> }): ScannerService {
  return {
    latest: () => latestScanReport(deps.db),
    async request(input) {
      // One scan at a time is enough: a second request while one waits or runs gets that one's id.
      // (The daily scheduler's next run sits in "delayed" and does not count.)
      const pending = await deps.queue.getJobs(['waiting', 'active', 'prioritized']);
      const existing = pending.find((job) => job?.data?.kind === 'scan');
      if (existing?.id) return { jobId: existing.id, queued: false };
      const job = await deps.queue.add('scan', {
        kind: 'scan',
        trigger: input.trigger,
        ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
        ...(input.statusMessageId !== undefined ? { statusMessageId: input.statusMessageId } : {}),
      });
      if (!job.id) throw new Error('BullMQ returned a job without an id');
      return { jobId: job.id, queued: true };
    },
  };
}

export interface ScannerWorkerDeps {
  db: Db;
  config: Config;
  secrets: Secrets;
  redis: RedisCommander;
  notify: Notify;
  audit?: Pick<AuditLog, 'record'> | undefined;
  logger: Logger;
  /** Pages for the HTTP self-check (default SELF_CHECK_PAGES); an empty list skips the check. */
  httpExpectations?: readonly HeaderExpectation[];
  /** Where status messages are edited (the bot's token and API root); absent → no progress in Telegram. */
  telegram?: { botToken: string | undefined; apiRoot: string; fetch?: typeof fetch } | undefined;
}

/** Progress edits at most this often (Telegram allows about one message a second per chat). */
const PROGRESS_EDIT_INTERVAL_MS = 1_000;

export function scannerProcessor(deps: ScannerWorkerDeps) {
  const api = deps.telegram?.botToken
    ? new Api(deps.telegram.botToken, {
        apiRoot: deps.telegram.apiRoot,
        ...(deps.telegram.fetch
          ? { fetch: deps.telegram.fetch as unknown as NonNullable<ConstructorParameters<typeof Api>[1]>['fetch'] }
          : {}),
      })
    : undefined;
  const log = deps.logger.child({ component: 'scanner' });
  const pages = deps.httpExpectations ?? SELF_CHECK_PAGES;

  return async (job: Job<ScannerJob, ScannerJobResult>): Promise<ScannerJobResult> => {
    const data = job.data;
    // The status message lives in the requesting admin's private chat (chat id = their Telegram id).
    const requester = data.requestedBy ? await findUserById(deps.db, data.requestedBy) : null;
    const status =
      api && requester && data.statusMessageId !== undefined
        ? {
            chatId: requester.telegramId,
            messageId: data.statusMessageId,
            t: translator(pickLocale(requester.languageCode ?? undefined)),
            canRun: roleHas(requester.role, 'admin:security:write'),
          }
        : undefined;
    const edit = async (text: string, extra: Parameters<Api['editMessageText']>[3] = {}) => {
      if (!api || !status) return;
      try {
        await api.editMessageText(status.chatId, status.messageId, text, extra);
      } catch (error) {
        // The admin deleted the message, or nothing changed: progress is best effort.
        if (!(error instanceof GrammyError)) throw error;
      }
    };
    let lastEditAt = 0;
    const onProgress = async (phase: ScanPhase, percent: number) => {
      await job.updateProgress({ phase, percent });
      if (!status || Date.now() - lastEditAt < PROGRESS_EDIT_INTERVAL_MS) return;
      lastEditAt = Date.now();
      await edit(renderScanProgress(status.t, phase, percent));
    };

    let outcome: Awaited<ReturnType<typeof runScan>>;
    try {
      outcome = await runScan(
        {
          db: deps.db,
          config: deps.config,
          secrets: deps.secrets,
          redis: deps.redis,
          ...(pages.length > 0 ? { httpExpectations: pages } : {}),
        },
        data.trigger,
        onProgress,
      );
    } catch (error) {
      log.error({ jobId: job.id, err: (error as Error).message }, 'Scan failed');
      if (status) await edit(status.t('scan.failed'));
      throw error;
    }

    const critical = outcome.opened.filter((row) => row.severity === 'critical').length;
    const high = outcome.opened.filter((row) => row.severity === 'high').length;
    let alerted = 0;
    if (critical + high > 0) {
      // Every active admin hears about new high-risk findings once: the scan that opened them.
      const admins = await deps.db
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.status, 'active')));
      for (const admin of admins) {
        await deps.notify({ kind: 'scan-findings', userId: admin.id, scanId: outcome.scanId, critical, high });
        alerted++;
      }
    }
    await deps.audit?.record({
      actor: { type: 'system', id: 'worker:scanner' },
      action: 'scanner.scan_completed',
      target: { type: 'scan', id: outcome.scanId },
      result: 'success',
      reasonCode: critical + high > 0 ? 'NEW_HIGH_RISK_FINDINGS' : undefined,
      source: 'worker',
    });
    if (status) {
      const report = await latestScanReport(deps.db);
      const { text, keyboard } = renderScanReport(status.t as Translate, report, status.canRun);
      await edit(text, { parse_mode: 'HTML', ...(keyboard ? { reply_markup: keyboard } : {}) });
    }
    log.info(
      { jobId: job.id, scanId: outcome.scanId, opened: outcome.opened.length, resolved: outcome.resolved },
      'Scan completed',
    );
    return {
      scanId: outcome.scanId,
      counts: outcome.counts,
      newCount: outcome.opened.length,
      resolvedCount: outcome.resolved,
      alerted,
    };
  };
}
