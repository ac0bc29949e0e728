/**
 * /scan (admins): the latest vulnerability-scan report, with a "Scan now" button. A requested scan runs on
 * the worker, which edits the status message with its progress and finally with the report. Viewing needs
 * `admin:security:read`, scanning `admin:security:write` (the API's rules); requests are audited. The buttons'
 * data is checked by bot/callbacks.ts; "Scan now" has no nonce: a repeated tap joins the scan already queued.
 */
import { Composer, InlineKeyboard } from 'grammy';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { User } from '#shared/db/schema.ts';
import { roleHas } from '#shared/identity/rbac.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import type { ScannerService, ScanPhase, ScanReport, Severity } from '#shared/scanner/index.ts';
import { button, type Callbacks, createCallbacks } from '../callbacks.ts';
import type { Context } from '../context.ts';
import type { MessageKey, Translate } from '../i18n/index.ts';

export interface ScanFeatureDeps {
  db: Db;
  scanner: ScannerService;
  audit?: Pick<AuditLog, 'record'> | undefined;
  /** Callback data checks (one per bot); a private one when absent. */
  callbacks?: Callbacks | undefined;
}

/** Findings listed in the message (the API has them all); keeps it well under Telegram's 4096 characters. */
export const FINDINGS_SHOWN = 8;
const DETAIL_SHOWN_CHARS = 180;
export const RUN_CALLBACK = 'scan:run';
export const REPORT_CALLBACK = 'scan:report';
export const SCAN_BUTTONS = { run: button(RUN_CALLBACK, []), report: button(REPORT_CALLBACK, []) };

const ICONS: Record<Severity, string> = { critical: '🔴', high: '🟠', medium: '🟡', low: '⚪' };
const PHASE_KEYS: Record<ScanPhase, MessageKey> = {
  dependencies: 'scan.phase_dependencies',
  configuration: 'scan.phase_configuration',
  http: 'scan.phase_http',
  saving: 'scan.phase_saving',
};

/** Escapes text for Telegram's HTML parse mode (findings quote header values and package names). */
function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An active account whose role grants `permission` (checked on every command and tap). */
function may(person: User | null, permission: 'admin:security:read' | 'admin:security:write'): person is User {
  return person !== null && person.status === 'active' && roleHas(person.role, permission);
}

function minute(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The report as an HTML message, with "Scan now" for admins who may run one. */
export function renderScanReport(
  t: Translate,
  report: ScanReport | null,
  canRun: boolean,
): { text: string; keyboard: InlineKeyboard | undefined } {
  const keyboard = canRun ? new InlineKeyboard().text(t('scan.run_button'), RUN_CALLBACK) : undefined;
  if (!report) return { text: t('scan.none'), keyboard };
  const lines = [
    t('scan.header', {
      finished: minute(report.finishedAt),
      ...report.counts,
      new: report.newCount,
      resolved: report.resolvedCount,
      packages: report.packagesChecked,
      advisories: report.advisoriesLoaded,
    }),
    '',
  ];
  if (report.findings.length === 0) lines.push(t('scan.clean'));
  for (const item of report.findings.slice(0, FINDINGS_SHOWN)) {
    const detail =
      item.detail.length > DETAIL_SHOWN_CHARS ? `${item.detail.slice(0, DETAIL_SHOWN_CHARS)}…` : item.detail;
    lines.push(
      t('scan.item', {
        icon: ICONS[item.severity],
        newMark: item.new ? t('scan.new_mark') : '',
        title: escapeHtml(item.title),
        detail: escapeHtml(detail),
      }),
    );
  }
  const hidden = report.findings.length - FINDINGS_SHOWN;
  if (hidden > 0) lines.push(t('scan.more', { count: hidden }));
  return { text: lines.join('\n'), keyboard };
}

/** The progress line the worker shows while a scan runs. */
export function renderScanProgress(t: Translate, phase: ScanPhase, percent: number): string {
  return t('scan.progress', { phase: t(PHASE_KEYS[phase]), percent });
}

export function scanFeature(deps: ScanFeatureDeps) {
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');
  const callbacks = deps.callbacks ?? createCallbacks({ db: deps.db, audit: deps.audit });

  const personOf = (ctx: Context): Promise<User | null> =>
    ctx.from ? findUserByTelegramId(deps.db, ctx.from.id) : Promise.resolve(null);

  async function sendReport(ctx: Context, person: User) {
    const { text, keyboard } = renderScanReport(
      ctx.t,
      await deps.scanner.latest(),
      roleHas(person.role, 'admin:security:write'),
    );
    await ctx.reply(text, { parse_mode: 'HTML', ...(keyboard ? { reply_markup: keyboard } : {}) });
  }

  feature.command('scan', async (ctx, next) => {
    const person = await personOf(ctx);
    // Answered like an unknown command: no hint that admin commands exist.
    if (!may(person, 'admin:security:read')) return next();
    await sendReport(ctx, person);
  });

  callbacks.handle(feature, SCAN_BUTTONS.report, async (ctx) => {
    const person = await personOf(ctx);
    if (!may(person, 'admin:security:read')) {
      await ctx.answerCallbackQuery({ text: ctx.t('scan.not_allowed'), show_alert: true });
      return;
    }
    await ctx.answerCallbackQuery();
    await sendReport(ctx, person);
  });

  callbacks.handle(feature, SCAN_BUTTONS.run, async (ctx) => {
    const person = await personOf(ctx);
    // Checked again at tap time: the button may outlive the person's admin role.
    if (!may(person, 'admin:security:write')) {
      await ctx.answerCallbackQuery({ text: ctx.t('scan.not_allowed'), show_alert: true });
      return;
    }
    await ctx.answerCallbackQuery({ text: ctx.t('scan.started') });
    const status = await ctx.reply(ctx.t('scan.queued'));
    const result = await deps.scanner.request({
      trigger: 'bot',
      requestedBy: person.id,
      statusMessageId: status.message_id,
    });
    await deps.audit?.record({
      actor: { type: 'user', id: person.id },
      action: 'scanner.scan_requested',
      target: { type: 'scan_job', id: result.jobId },
      result: 'success',
      reasonCode: result.queued ? 'QUEUED' : 'ALREADY_RUNNING',
      source: 'bot',
    });
    if (!result.queued) await ctx.api.editMessageText(status.chat.id, status.message_id, ctx.t('scan.already_running'));
  });

  return composer;
}
