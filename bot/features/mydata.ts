/**
 * /mydata: the person's data subject requests in the chat. Get a copy (an export job; one status message is
 * edited with its progress, then the files arrive as documents), correct the profile from Telegram, or delete
 * everything: a confirmation, a second-factor code when two-factor authentication is on (a conversation: the
 * code message is deleted and never stored), then a grace period with a Cancel button. Also lists requests
 * with their deadlines.
 */
import { Composer, InlineKeyboard } from 'grammy';
import type { Db } from '#shared/db/index.ts';
import type { PrivacyRequestRow } from '#shared/db/schema-privacy.ts';
import { isDomainError } from '#shared/errors.ts';
import type { SecondFactor } from '#shared/identity/second-factor.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { type PrivacyService, privacyError } from '#shared/privacy/index.ts';
import type { Context } from '../context.ts';
import {
  type BotConversation,
  type ConversationContext,
  defineConversation,
  waitStep,
} from '../conversations/index.ts';

export interface MydataFeatureDeps {
  db: Db;
  privacy: PrivacyService;
  /** Two-factor codes: with a factor enrolled, erasure asks for a code (needs conversations). */
  mfa?: (SecondFactor & { isEnrolled(userId: string): Promise<boolean> }) | undefined;
  /** True when the conversations plugin is installed (Redis available). */
  conversations: boolean;
}

export const ERASURE_STEP_UP_CONVERSATION = 'privacy-erasure-step-up';
const CANCEL = /^md:cancel:([0-9a-f-]{36})$/;
const REQUESTS_SHOWN = 5;

function dateOf(value: Date, locale: string): string {
  return value.toLocaleDateString(locale, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });
}

function requestLine(ctx: Context, row: PrivacyRequestRow): string {
  return ctx.t('mydata.request_line', {
    kind: ctx.t(`mydata.kind_${row.kind}`),
    status: ctx.t(`mydata.status_${row.status}`),
    due: dateOf(row.dueAt, ctx.locale),
    extended: row.extendedUntil ? ctx.t('mydata.extended', { until: dateOf(row.extendedUntil, ctx.locale) }) : '',
  });
}

export function mydataFeature(deps: MydataFeatureDeps) {
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');
  const personOf = (ctx: Context) => (ctx.from ? findUserByTelegramId(deps.db, ctx.from.id) : Promise.resolve(null));

  /** Schedules the erasure and says when it runs, with the Cancel button. */
  async function scheduleErasure(ctx: Context, userId: string): Promise<void> {
    try {
      const row = await deps.privacy.requestErasure({ userId, source: 'bot' });
      await ctx.reply(ctx.t('mydata.erase_scheduled', { date: dateOf(row.effectiveAt ?? row.dueAt, ctx.locale) }), {
        reply_markup: new InlineKeyboard().text(ctx.t('mydata.erase_cancel'), `md:cancel:${row.id}`),
      });
    } catch (error) {
      if (isDomainError(error) && error.code === 'REQUEST_IN_PROGRESS') await ctx.reply(ctx.t('mydata.in_progress'));
      else throw error;
    }
  }

  if (deps.conversations && deps.mfa) {
    const mfa = deps.mfa;
    // Sensitive: the code is checked in the step that receives it, and the stored state is redacted.
    composer.use(
      defineConversation(
        async (conversation: BotConversation, ctx: ConversationContext) => {
          const telegramId = ctx.from?.id;
          if (telegramId === undefined) return;
          await ctx.reply(ctx.t('mydata.erase_code'));
          const step = await waitStep(conversation);
          if (step.kind !== 'update') {
            await ctx.reply(ctx.t('mydata.kept'));
            return;
          }
          const message = step.ctx.message;
          const verdict = await conversation.external(async (outside) => {
            if (message?.text) await outside.api.deleteMessage(message.chat.id, message.message_id).catch(() => {});
            const person = await findUserByTelegramId(deps.db, telegramId);
            if (!person || !message?.text) return 'invalid';
            const result = await mfa.verify(person.id, message.text.trim(), 'bot');
            if (result !== 'ok') return result;
            await scheduleErasure(outside, person.id);
            return 'ok';
          });
          if (verdict !== 'ok') await ctx.reply(ctx.t('mydata.erase_code_wrong'));
        },
        ERASURE_STEP_UP_CONVERSATION,
        { sensitive: true },
      ),
    );
  }

  async function menu(ctx: Context) {
    const person = await personOf(ctx);
    if (!person) {
      await ctx.reply(ctx.t('privacy.no_account'));
      return;
    }
    const requests = (await deps.privacy.listRequests(person.id)).slice(0, REQUESTS_SHOWN);
    const list =
      requests.length > 0
        ? [ctx.t('mydata.requests_header'), ...requests.map((row) => requestLine(ctx, row))].join('\n')
        : '';
    const keyboard = new InlineKeyboard()
      .text(ctx.t('mydata.export'), 'md:x')
      .row()
      .text(ctx.t('mydata.rectify'), 'md:r')
      .row()
      .text(ctx.t('mydata.erase'), 'md:d');
    await ctx.reply(ctx.t('mydata.menu', { requests: list }), { parse_mode: 'HTML', reply_markup: keyboard });
  }

  feature.command('mydata', menu);
  feature.callbackQuery('md:menu', async (ctx) => {
    await ctx.answerCallbackQuery();
    await menu(ctx);
  });

  feature.callbackQuery('md:x', async (ctx) => {
    const person = await personOf(ctx);
    if (!person) throw privacyError('USER_NOT_FOUND');
    try {
      const row = await deps.privacy.requestExport({ userId: person.id, source: 'bot' });
      await ctx.answerCallbackQuery();
      // The worker edits this one message with the progress, then sends the files.
      const status = await ctx.reply(ctx.t('mydata.export_started'));
      await deps.privacy.setStatusMessage(row.id, status.message_id);
    } catch (error) {
      if (isDomainError(error) && error.code === 'REQUEST_IN_PROGRESS') {
        await ctx.answerCallbackQuery({ text: ctx.t('mydata.in_progress'), show_alert: true });
      } else throw error;
    }
  });

  feature.callbackQuery('md:r', async (ctx) => {
    const person = await personOf(ctx);
    await ctx.answerCallbackQuery();
    await ctx.reply(ctx.t('mydata.rectify_text', { language: person?.languageCode ?? '—' }), {
      reply_markup: new InlineKeyboard().text(ctx.t('mydata.rectify_refresh'), 'md:rr'),
    });
  });

  feature.callbackQuery('md:rr', async (ctx) => {
    const person = await personOf(ctx);
    if (!person) throw privacyError('USER_NOT_FOUND');
    await deps.privacy.rectify({ userId: person.id, source: 'bot' }, { languageCode: ctx.from.language_code ?? null });
    const updated = await personOf(ctx);
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(ctx.t('mydata.rectified', { language: updated?.languageCode ?? '—' }));
  });

  feature.callbackQuery('md:d', async (ctx) => {
    await ctx.answerCallbackQuery();
    const exceptions = deps.privacy
      .policy()
      .exceptions.map((item) => item.table)
      .filter((table, index, all) => all.indexOf(table) === index)
      .join(', ');
    await ctx.reply(ctx.t('mydata.erase_confirm', { days: deps.privacy.erasureGraceDays, exceptions }), {
      parse_mode: 'HTML',
      reply_markup: new InlineKeyboard()
        .text(ctx.t('mydata.erase_yes'), 'md:dy')
        .row()
        .text(ctx.t('mydata.erase_no'), 'md:dn'),
    });
  });

  feature.callbackQuery('md:dn', async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(ctx.t('mydata.kept'));
  });

  feature.callbackQuery('md:dy', async (ctx) => {
    const person = await personOf(ctx);
    if (!person) throw privacyError('USER_NOT_FOUND');
    await ctx.answerCallbackQuery();
    await ctx.editMessageReplyMarkup();
    if (deps.mfa && (await deps.mfa.isEnrolled(person.id))) {
      // Step-up: with two-factor authentication on, a stolen chat alone cannot delete the account.
      if (!deps.conversations) {
        await ctx.reply(ctx.t('mydata.erase_use_app'));
        return;
      }
      await (ctx as Context & { conversation: { enter(id: string): Promise<void> } }).conversation.enter(
        ERASURE_STEP_UP_CONVERSATION,
      );
      return;
    }
    await scheduleErasure(ctx, person.id);
  });

  feature.callbackQuery(CANCEL, async (ctx) => {
    const person = await personOf(ctx);
    const id = CANCEL.exec(ctx.callbackQuery.data)?.[1] ?? '';
    const row = person ? await deps.privacy.cancelErasure({ userId: person.id, source: 'bot' }, id) : null;
    await ctx.answerCallbackQuery();
    if (row) await ctx.editMessageText(ctx.t('mydata.erase_cancelled'));
    else await ctx.reply(ctx.t('mydata.erase_not_cancellable'));
  });

  return composer;
}
