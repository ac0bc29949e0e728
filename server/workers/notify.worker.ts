/**
 * The `notify` queue: renders a notice in the person's language and sends it through the Bot API.
 * Payloads carry ids only; the Telegram id and language are looked up here. A person who blocked the bot is
 * not retried; Telegram's transient failures and 429s are (the queue's backoff).
 * Sends go through bot/outgoing.ts (bounded 429 retry, throttler, 403 → `users.bot_blocked_at`); a person
 * marked as having blocked the bot is skipped without a send attempt until they write to it again.
 */
import type { Job } from 'bullmq';
import { Api, GrammyError, InlineKeyboard } from 'grammy';
import { refreshCommandMenu } from '#bot/commands.ts';
import { renderRoleGrantNotice } from '#bot/features/admin/notices.ts';
import { renderDefenseNotice } from '#bot/features/decisions.ts';
import { renderPrivacyNotice } from '#bot/features/privacy.ts';
import { pickLocale, translator } from '#bot/i18n/index.ts';
import { type OutgoingOptions, outgoingTransformers } from '#bot/outgoing.ts';
import type { Db } from '#shared/db/index.ts';
import { findUserById } from '#shared/identity/users.ts';
import { PROVIDER_NAMES } from '#shared/oauth/providers.ts';
import { mayProcess } from '#shared/privacy/consent.ts';
import { getRequest } from '#shared/privacy/requests.ts';
import type { NotifyJob } from '../notify.ts';
import type { NotifyJobResult } from '../queues.ts';

export interface NotifyWorkerDeps {
  db: Db;
  /** Unset: the bot is disabled and notices are dropped (recorded as not sent). */
  botToken: string | undefined;
  apiRoot: string;
  fetch?: typeof fetch;
  /** Retry bounds and throttler limits (bot/outgoing.ts defaults: Telegram's limits). */
  outgoing?: OutgoingOptions;
}

export function notifyProcessor(deps: NotifyWorkerDeps) {
  const api = deps.botToken
    ? new Api(deps.botToken, {
        apiRoot: deps.apiRoot,
        ...(deps.fetch
          ? { fetch: deps.fetch as unknown as NonNullable<ConstructorParameters<typeof Api>[1]>['fetch'] }
          : {}),
      })
    : undefined;
  api?.config.use(...outgoingTransformers({ db: deps.db }, deps.outgoing));
  return async (job: Job<NotifyJob, NotifyJobResult>): Promise<NotifyJobResult> => {
    if (!api) return { sent: false, reason: 'bot-disabled' };
    const user = await findUserById(deps.db, job.data.userId);
    if (!user || user.status === 'deleted') return { sent: false, reason: 'user-unknown' };
    // Telegram said they blocked the bot (or left): no attempt until they are reachable again.
    if (user.botBlockedAt) return { sent: false, reason: 'blocked' };
    const t = translator(pickLocale(user.languageCode ?? undefined));
    const data = job.data;
    let text: string;
    let keyboard: InlineKeyboard | undefined;
    switch (data.kind) {
      case 'refresh-reuse':
        text = t('notify.refresh_reuse');
        keyboard = new InlineKeyboard().text(t('notify.review_sessions'), 'sessions');
        break;
      case 'role-changed':
        text = t('notify.role_changed', { role: data.role });
        // The admin menu appears (or disappears) in the person's own private chat; a failure only costs the menu.
        await refreshCommandMenu(api, user.telegramId, data.role).catch(() => undefined);
        break;
      case 'api-key-created':
        text = t('notify.api_key_created');
        break;
      case 'api-key-rotated':
        text = t('notify.api_key_rotated');
        break;
      case 'api-key-revoked':
        text = t('notify.api_key_revoked');
        break;
      case 'mfa-enabled':
        text = t('notify.mfa_enabled');
        break;
      case 'mfa-disabled':
        text = t('notify.mfa_disabled');
        break;
      case 'mfa-locked':
        text = t(data.channel === 'bot' ? 'notify.mfa_locked_bot' : 'notify.mfa_locked_api', {
          until: `${data.lockedUntil.slice(0, 16).replace('T', ' ')} UTC`,
        });
        break;
      case 'mfa-backup-codes-regenerated':
        text = t('notify.mfa_backup_codes_regenerated');
        break;
      case 'mfa-reset-requested':
        text = t('notify.mfa_reset_requested', { at: `${data.effectiveAt.slice(0, 16).replace('T', ' ')} UTC` });
        keyboard = new InlineKeyboard().text(t('mfa.reset_cancel_button'), 'mfa:reset-cancel');
        break;
      case 'mfa-reset-cancelled':
        text = t('notify.mfa_reset_cancelled');
        break;
      case 'mfa-reset-completed':
        text = t('notify.mfa_reset_completed');
        break;
      case 'oauth-linked':
        text = t('notify.oauth_linked', { provider: PROVIDER_NAMES[data.provider] });
        break;
      case 'oauth-unlinked':
        text = t('notify.oauth_unlinked', { provider: PROVIDER_NAMES[data.provider] });
        break;
      case 'defense-decision':
      case 'defense-alert':
      case 'defense-target': {
        const rendered = await renderDefenseNotice(deps.db, t, data);
        if (!rendered) return { sent: false, reason: 'user-unknown' };
        text = rendered.text;
        keyboard = rendered.keyboard;
        break;
      }
      case 'scan-findings':
        text = t('notify.scan_findings', {
          count: data.critical + data.high,
          critical: data.critical,
          high: data.high,
        });
        keyboard = new InlineKeyboard().text(t('scan.open_report'), 'scan:report');
        break;
      case 'privacy-request-extended':
      case 'privacy-erasure-scheduled':
      case 'privacy-erasure-cancelled':
      case 'security-tip': {
        // Optional purposes (tips) are checked first: consent, objection and restriction (Art. 18, 21).
        if (data.kind === 'security-tip' && !(await mayProcess(deps.db, user.id, 'security_tips'))) {
          return { sent: false, reason: 'not-allowed' };
        }
        // Art. 12(3): an extension is told with its reason, read here (payloads carry ids only).
        const reason =
          data.kind === 'privacy-request-extended'
            ? ((await getRequest(deps.db, data.requestId))?.extensionReason ?? '')
            : undefined;
        ({ text, keyboard } = renderPrivacyNotice(t, data, { ...(reason !== undefined ? { reason } : {}) }));
        break;
      }
      case 'role-grant-requested':
      case 'role-grant-decided': {
        const rendered = await renderRoleGrantNotice(deps.db, t, data);
        if (!rendered) return { sent: false, reason: 'user-unknown' };
        text = rendered.text;
        keyboard = rendered.keyboard;
        break;
      }
      default:
        throw new Error(`Unknown notice ${String((data as { kind: unknown }).kind)}`);
    }
    try {
      await api.sendMessage(user.telegramId, text, keyboard ? { reply_markup: keyboard } : {});
      return { sent: true };
    } catch (error) {
      // 403: the person blocked the bot or never started it. Retrying would not help.
      if (error instanceof GrammyError && error.error_code === 403) return { sent: false, reason: 'blocked' };
      throw error;
    }
  };
}
