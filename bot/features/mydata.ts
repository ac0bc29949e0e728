/**
 * /mydata: the person's data subject requests in the chat. Get a copy (an export job; one status message is
 * edited with its progress, then the files arrive as documents), correct the profile from Telegram, or delete
 * everything: a confirmation, a second-factor code when two-factor authentication is on (a conversation: the
 * code message is deleted and never stored), then a grace period with a Cancel button. Also lists requests
 * with their deadlines. The erasure confirmation carries a single-use nonce bound to the person
 * (bot/callbacks.ts): a replayed or forwarded "Yes, delete" does nothing.
 */
import { Composer, InlineKeyboard } from 'grammy';
import type { Db } from '#shared/db/index.ts';
import type { PrivacyRequestRow } from '#shared/db/schema-privacy.ts';
import { isDomainError } from '#shared/errors.ts';
import type { SecondFactor } from '#shared/identity/second-factor.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { type PrivacyService, privacyError } from '#shared/privacy/index.ts';
import { arg, button, type Callbacks, createCallbacks } from '../callbacks.ts';
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
  /** Callback data checks and nonces (one per bot); a private one in memory when absent. */
  callbacks?: Callbacks | undefined;
}

/** The /mydata buttons; `md:dy:<nonce>` confirms the erasure, `md:cancel:<request id>` cancels it. */
export const MYDATA_BUTTONS = {
  menu: button('md:menu', []),
  export: button('md:x', []),
  rectify: button('md:r', []),
  rectifyRefresh: button('md:rr', []),
  erase: button('md:d', []),
  eraseNo: button('md:dn', []),
  eraseYes: button('md:dy', [], { nonce: true }),
  cancel: button('md:cancel', [arg.uuid()]),
};
const B = MYDATA_BUTTONS;

export const ERASURE_STEP_UP_CONVERSATION = 'privacy-erasure-step-up';
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
  const callbacks = deps.callbacks ?? createCallbacks({ db: deps.db });
  const personOf = (ctx: Context) => (ctx.from ? findUserByTelegramId(deps.db, ctx.from.id) : Promise.resolve(null));

  /** Schedules the erasure and says when it runs, with the Cancel button. */
  async function scheduleErasure(ctx: Context, userId: string): Promise<void> {
    try {
      const row = await deps.privacy.requestErasure({ userId, source: 'bot' });
      await ctx.reply(ctx.t('mydata.erase_scheduled', { date: dateOf(row.effectiveAt ?? row.dueAt, ctx.locale) }), {
        reply_markup: new InlineKeyboard().text(ctx.t('mydata.erase_cancel'), callbacks.data(B.cancel, [row.id])),
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
      .text(ctx.t('mydata.export'), callbacks.data(B.export, []))
      .row()
      .text(ctx.t('mydata.rectify'), callbacks.data(B.rectify, []))
      .row()
      .text(ctx.t('mydata.erase'), callbacks.data(B.erase, []));
    await ctx.reply(ctx.t('mydata.menu', { requests: list }), { parse_mode: 'HTML', reply_markup: keyboard });
  }

  feature.command('mydata', menu);
  callbacks.handle(feature, B.menu, async (ctx) => {
    await ctx.answerCallbackQuery();
    await menu(ctx);
  });

  callbacks.handle(feature, B.export, async (ctx) => {
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

  callbacks.handle(feature, B.rectify, async (ctx) => {
    const person = await personOf(ctx);
    await ctx.answerCallbackQuery();
    await ctx.reply(ctx.t('mydata.rectify_text', { language: person?.languageCode ?? '—' }), {
      reply_markup: new InlineKeyboard().text(ctx.t('mydata.rectify_refresh'), callbacks.data(B.rectifyRefresh, [])),
    });
  });

  callbacks.handle(feature, B.rectifyRefresh, async (ctx) => {
    const person = await personOf(ctx);
    if (!person) throw privacyError('USER_NOT_FOUND');
    await deps.privacy.rectify({ userId: person.id, source: 'bot' }, { languageCode: ctx.from.language_code ?? null });
    const updated = await personOf(ctx);
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(ctx.t('mydata.rectified', { language: updated?.languageCode ?? '—' }));
  });

  callbacks.handle(feature, B.erase, async (ctx) => {
    await ctx.answerCallbackQuery();
    const exceptions = deps.privacy
      .policy()
      .exceptions.map((item) => item.table)
      .filter((table, index, all) => all.indexOf(table) === index)
      .join(', ');
    await ctx.reply(ctx.t('mydata.erase_confirm', { days: deps.privacy.erasureGraceDays, exceptions }), {
      parse_mode: 'HTML',
      reply_markup: new InlineKeyboard()
        .text(ctx.t('mydata.erase_yes'), await callbacks.issueData(B.eraseYes, [], ctx.from.id))
        .row()
        .text(ctx.t('mydata.erase_no'), callbacks.data(B.eraseNo, [])),
    });
  });

  callbacks.handle(feature, B.eraseNo, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(ctx.t('mydata.kept'));
  });

  callbacks.handle(feature, B.eraseYes, async (ctx) => {
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

  callbacks.handle(feature, B.cancel, async (ctx, [id]) => {
    const person = await personOf(ctx);
    const row = person ? await deps.privacy.cancelErasure({ userId: person.id, source: 'bot' }, id) : null;
    await ctx.answerCallbackQuery();
    if (row) await ctx.editMessageText(ctx.t('mydata.erase_cancelled'));
    else await ctx.reply(ctx.t('mydata.erase_not_cancellable'));
  });

  return composer;
}
