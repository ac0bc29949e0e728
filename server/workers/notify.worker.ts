/**
 * The `notify` queue: renders a notice in the person's language and sends it through the Bot API.
 * Payloads carry ids only; the Telegram id and language are looked up here. A person who blocked the bot is
 * not retried; Telegram's transient failures and 429s are (the queue's backoff).
 */
import type { Job } from 'bullmq';
import { Api, GrammyError, InlineKeyboard } from 'grammy';
import { pickLocale, translator } from '#bot/i18n/index.ts';
import type { Db } from '#shared/db/index.ts';
import { findUserById } from '#shared/identity/users.ts';
import type { NotifyJob } from '../notify.ts';
import type { NotifyJobResult } from '../queues.ts';

export interface NotifyWorkerDeps {
  db: Db;
  /** Unset: the bot is disabled and notices are dropped (recorded as not sent). */
  botToken: string | undefined;
  apiRoot: string;
  fetch?: typeof fetch;
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
  return async (job: Job<NotifyJob, NotifyJobResult>): Promise<NotifyJobResult> => {
    if (!api) return { sent: false, reason: 'bot-disabled' };
    const user = await findUserById(deps.db, job.data.userId);
    if (!user || user.status === 'deleted') return { sent: false, reason: 'user-unknown' };
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
