/**
 * /mfa: two-factor codes. Not enrolled → a conversation: what will happen, a QR code (sendPhoto) with the
 * otpauth link as copyable text, then the current code (three tries, /cancel or the Cancel button at any
 * step, 10-minute waits), then 10 backup codes shown once with an "I saved them" button. Enrolled → status
 * with buttons for new backup codes (needs a current TOTP) and turning MFA off (a TOTP or a backup code).
 * Every message that carries a code is deleted as soon as it is read, and the conversations are `sensitive`
 * (bot/conversations): no code is ever written to their stored state. "New backup codes" and "Turn off" carry a
 * single-use nonce bound to the person (bot/callbacks.ts).
 *
 * Also the admin gate: an admin without MFA can use only /start, /help and /mfa until they enrol.
 */
import { Composer, InlineKeyboard, InputFile, type MiddlewareFn } from 'grammy';
import QRCode from 'qrcode';
import type { Db } from '#shared/db/index.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import type { MfaService } from '#shared/mfa/index.ts';
import { button, type Callbacks, createCallbacks } from '../callbacks.ts';
import type { Context } from '../context.ts';
import {
  type BotConversation,
  type ConversationContext,
  cancelKeyboard,
  defineConversation,
  waitStep,
} from '../conversations/index.ts';
import { deleteQuietly, markBotStepUp } from './step-up.ts';

export interface MfaFeatureDeps {
  db: Db;
  mfa: MfaService;
  redis: import('ioredis').Redis;
  redisPrefix: string;
  /** Wait timeout per step; 10 minutes by default (tests may shorten it). */
  waitMs?: number;
  /** Callback data checks and nonces (one per bot); a private one in memory when absent. */
  callbacks?: Callbacks | undefined;
}

/** The /mfa buttons: `mfa:regen:<nonce>`, `mfa:disable:<nonce>`, `mfa:reset-cancel`, `mfa:saved`. */
export const MFA_BUTTONS = {
  regenerate: button('mfa:regen', [], { nonce: true }),
  disable: button('mfa:disable', [], { nonce: true }),
  resetCancel: button('mfa:reset-cancel', []),
  saved: button('mfa:saved', []),
};

/** Codes accepted per enrolment before it stops (the per-channel lockout counts them too). */
export const ENROL_TRIES = 3;

export const MFA_CONVERSATIONS = {
  enrol: 'mfa-enrol',
  disable: 'mfa-disable',
  backupCodes: 'mfa-backup-codes',
} as const;

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function minute(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

type CodeVerdict = 'ok' | 'invalid' | 'locked' | 'not_enrolled';

/**
 * One code step of a conversation, repeated up to `tries` times: waits for a text, deletes its message and
 * runs `check` on it in the same `external` step. Returns the final verdict, or 'cancelled' / 'timeout'.
 * Only the verdict (and the id of a message `check` sent) is stored in the conversation state.
 */
async function codeStep(
  conversation: BotConversation,
  ctx: ConversationContext,
  options: {
    tries: number;
    waitMs: number | undefined;
    check: (code: string, outside: Context) => Promise<{ verdict: CodeVerdict; messageId?: number }>;
    wrongKey: 'mfa.wrong_code' | 'stepup.wrong_code';
  },
): Promise<{ verdict: CodeVerdict; messageId?: number } | 'cancelled' | 'timeout'> {
  for (let attempt = 1; attempt <= options.tries; attempt++) {
    const step = await waitStep(conversation, options.waitMs === undefined ? {} : { timeoutMs: options.waitMs });
    if (step.kind === 'cancelled') return 'cancelled';
    const message = step.ctx.message;
    if (step.kind === 'timeout') {
      // A late reply may still be a code: it is deleted all the same.
      if (message)
        await conversation.external((outside) => deleteQuietly(outside, message.chat.id, message.message_id));
      return 'timeout';
    }
    if (!message?.text) {
      await ctx.reply(ctx.t('mfa.send_code_as_text'), { reply_markup: cancelKeyboard(ctx) });
      attempt--;
      continue;
    }
    const result = await conversation.external(async (outside) => {
      await deleteQuietly(outside, message.chat.id, message.message_id);
      return options.check(message.text ?? '', outside);
    });
    if (result.verdict !== 'invalid') return result;
    const left = options.tries - attempt;
    if (left > 0) {
      await ctx.reply(ctx.t(options.wrongKey, { left, tries: ctx.t(left === 1 ? 'mfa.try' : 'mfa.tries') }), {
        reply_markup: cancelKeyboard(ctx),
      });
    }
  }
  return { verdict: 'invalid' };
}

/** Sends backup codes (inside `external`: the text never reaches conversation state); returns the message id. */
async function sendCodes(
  outside: Context,
  chatId: number,
  key: 'mfa.enabled_codes' | 'mfa.new_codes',
  codes: string[],
) {
  const sent = await outside.api.sendMessage(chatId, outside.t(key, { codes: codes.join('\n') }), {
    parse_mode: 'HTML',
    reply_markup: new InlineKeyboard().text(outside.t('mfa.saved_button'), 'mfa:saved'),
  });
  return sent.message_id;
}

/** Waits for "I saved them", then deletes the codes message whatever the answer. */
async function awaitSaved(
  conversation: BotConversation,
  ctx: ConversationContext,
  chatId: number,
  messageId: number,
  waitMs: number | undefined,
) {
  const step = await waitStep(conversation, waitMs === undefined ? {} : { timeoutMs: waitMs });
  const saved = step.kind === 'update' && step.ctx.callbackQuery?.data === 'mfa:saved';
  if (saved) await step.ctx.answerCallbackQuery();
  await conversation.external((outside) => deleteQuietly(outside, chatId, messageId));
  await ctx.reply(ctx.t(saved ? 'mfa.saved' : 'mfa.codes_unconfirmed'));
}

export function mfaFeature(deps: MfaFeatureDeps) {
  const { mfa } = deps;
  const composer = new Composer<Context>();
  // Conversations first: `ctx.conversation.enter` only knows those registered before the handler runs.
  composer.use(defineConversation(enrol, MFA_CONVERSATIONS.enrol, { sensitive: true }));
  composer.use(defineConversation(disable, MFA_CONVERSATIONS.disable, { sensitive: true }));
  composer.use(defineConversation(backupCodes, MFA_CONVERSATIONS.backupCodes, { sensitive: true }));
  const feature = composer.chatType('private');
  const callbacks =
    deps.callbacks ?? createCallbacks({ db: deps.db, redis: deps.redis, redisPrefix: deps.redisPrefix });

  const userIdOf = async (conversation: BotConversation, telegramId: number) =>
    conversation.external(async () => (await findUserByTelegramId(deps.db, telegramId))?.id ?? null);

  async function enrol(conversation: BotConversation, ctx: ConversationContext) {
    const from = ctx.from;
    const chatId = ctx.chat?.id;
    if (!from || chatId === undefined) return;
    const userId = await userIdOf(conversation, from.id);
    if (!userId) {
      await ctx.reply(ctx.t('mfa.no_account'));
      return;
    }
    await ctx.reply(ctx.t('mfa.intro'));
    const started = await conversation.external(async (outside) => {
      // The secret lives only in the database (sealed) and in these two messages: never in conversation state.
      const label = from.username ? `@${from.username}` : String(from.id);
      let enrolment: { otpauthUri: string };
      try {
        enrolment = await mfa.startEnrolment(userId, label);
      } catch {
        return false; // already enabled (a race with another device)
      }
      const png = await QRCode.toBuffer(enrolment.otpauthUri, { type: 'png', width: 480, margin: 2 });
      await outside.api.sendPhoto(chatId, new InputFile(png, 'two-factor-qr.png'), {
        caption: outside.t('mfa.qr_caption'),
      });
      await outside.api.sendMessage(chatId, outside.t('mfa.uri', { uri: escapeHtml(enrolment.otpauthUri) }), {
        parse_mode: 'HTML',
        reply_markup: new InlineKeyboard().text(outside.t('conversation.cancel_button'), 'conv:cancel'),
      });
      return true;
    });
    if (!started) {
      await ctx.reply(ctx.t('mfa.already_enabled'));
      return;
    }
    const result = await codeStep(conversation, ctx, {
      tries: ENROL_TRIES,
      waitMs: deps.waitMs,
      wrongKey: 'mfa.wrong_code',
      check: async (code, outside) => {
        const confirmed = await mfa.confirmEnrolment(userId, code, 'bot');
        if (!confirmed.ok) return { verdict: confirmed.reason };
        await markBotStepUp(deps, userId);
        return {
          verdict: 'ok',
          messageId: await sendCodes(outside, chatId, 'mfa.enabled_codes', confirmed.backupCodes),
        };
      },
    });
    if (result === 'cancelled' || result === 'timeout' || result.verdict !== 'ok') {
      await conversation.external(() => mfa.abandonEnrolment(userId));
      const key =
        result === 'cancelled'
          ? 'mfa.cancelled'
          : result === 'timeout'
            ? 'mfa.timeout'
            : result.verdict === 'locked'
              ? 'mfa.locked_now'
              : 'mfa.too_many';
      await ctx.reply(ctx.t(key));
      return;
    }
    if (result.messageId !== undefined) await awaitSaved(conversation, ctx, chatId, result.messageId, deps.waitMs);
  }

  async function disable(conversation: BotConversation, ctx: ConversationContext) {
    const from = ctx.from;
    if (!from) return;
    const userId = await userIdOf(conversation, from.id);
    if (!userId) return;
    await ctx.reply(ctx.t('mfa.disable_ask'), { reply_markup: cancelKeyboard(ctx) });
    const result = await codeStep(conversation, ctx, {
      tries: ENROL_TRIES,
      waitMs: deps.waitMs,
      wrongKey: 'stepup.wrong_code',
      // Disabling is itself a step-up: it needs a current TOTP or a backup code (audited, announced).
      check: async (code) => {
        const outcome = await mfa.disable(userId, code, 'bot');
        return { verdict: outcome.ok ? 'ok' : outcome.reason };
      },
    });
    if (result === 'cancelled') return void (await ctx.reply(ctx.t('mfa.cancelled')));
    if (result === 'timeout') return void (await ctx.reply(ctx.t('mfa.timeout')));
    const key =
      result.verdict === 'ok'
        ? 'mfa.disabled'
        : result.verdict === 'locked'
          ? 'mfa.locked_now'
          : result.verdict === 'not_enrolled'
            ? 'mfa.not_enrolled'
            : 'stepup.failed';
    await ctx.reply(ctx.t(key));
  }

  async function backupCodes(conversation: BotConversation, ctx: ConversationContext) {
    const from = ctx.from;
    const chatId = ctx.chat?.id;
    if (!from || chatId === undefined) return;
    const userId = await userIdOf(conversation, from.id);
    if (!userId) return;
    await ctx.reply(ctx.t('mfa.regenerate_ask'), { reply_markup: cancelKeyboard(ctx) });
    const result = await codeStep(conversation, ctx, {
      tries: ENROL_TRIES,
      waitMs: deps.waitMs,
      wrongKey: 'stepup.wrong_code',
      check: async (code, outside) => {
        const status = await mfa.isEnrolled(userId);
        if (!status) return { verdict: 'not_enrolled' };
        const outcome = await mfa.regenerateBackupCodes(userId, code, 'bot');
        if (!outcome.ok) return { verdict: outcome.reason };
        return { verdict: 'ok', messageId: await sendCodes(outside, chatId, 'mfa.new_codes', outcome.backupCodes) };
      },
    });
    if (result === 'cancelled') return void (await ctx.reply(ctx.t('mfa.cancelled')));
    if (result === 'timeout') return void (await ctx.reply(ctx.t('mfa.timeout')));
    if (result.verdict !== 'ok') {
      const key =
        result.verdict === 'locked'
          ? 'mfa.locked_now'
          : result.verdict === 'not_enrolled'
            ? 'mfa.not_enrolled'
            : 'stepup.failed';
      return void (await ctx.reply(ctx.t(key)));
    }
    if (result.messageId !== undefined) await awaitSaved(conversation, ctx, chatId, result.messageId, deps.waitMs);
  }

  feature.command('mfa', async (ctx) => {
    const user = await findUserByTelegramId(deps.db, ctx.from.id);
    if (!user) return void (await ctx.reply(ctx.t('mfa.no_account')));
    const status = await mfa.status(user.id);
    if (!status.enabled) return ctx.conversation.enter(MFA_CONVERSATIONS.enrol);
    const lines = [
      ctx.t('mfa.status_on', {
        since: status.enrolledAt ? minute(status.enrolledAt) : '?',
        remaining: status.backupCodesRemaining,
      }),
    ];
    const keyboard = new InlineKeyboard()
      .text(ctx.t('mfa.regenerate_button'), await callbacks.issueData(MFA_BUTTONS.regenerate, [], ctx.from.id))
      .text(ctx.t('mfa.disable_button'), await callbacks.issueData(MFA_BUTTONS.disable, [], ctx.from.id));
    if (status.pendingReset) {
      lines.push(ctx.t('mfa.status_reset', { at: minute(status.pendingReset.effectiveAt) }));
      keyboard.row().text(ctx.t('mfa.reset_cancel_button'), callbacks.data(MFA_BUTTONS.resetCancel, []));
    }
    await ctx.reply(lines.join('\n\n'), { reply_markup: keyboard });
  });

  callbacks.handle(feature, MFA_BUTTONS.regenerate, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.conversation.enter(MFA_CONVERSATIONS.backupCodes);
  });
  callbacks.handle(feature, MFA_BUTTONS.disable, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.conversation.enter(MFA_CONVERSATIONS.disable);
  });
  callbacks.handle(feature, MFA_BUTTONS.resetCancel, async (ctx) => {
    const user = await findUserByTelegramId(deps.db, ctx.from.id);
    const cancelled = user ? await mfa.cancelReset(user.id, 'bot') : false;
    await ctx.answerCallbackQuery({
      text: ctx.t(cancelled ? 'mfa.reset_cancelled' : 'mfa.reset_none'),
      show_alert: true,
    });
  });
  // A codes message left from an ended conversation: remove it anyway.
  callbacks.handle(feature, MFA_BUTTONS.saved, async (ctx) => {
    await ctx.answerCallbackQuery();
    const message = ctx.callbackQuery.message;
    if (message) await deleteQuietly(ctx, message.chat.id, message.message_id);
  });
  return composer;
}

/**
 * The admin gate: placed after /start, /help and /mfa, it stops every other update from an admin who has not
 * enrolled (admins hold the keys to everyone else's data: a stolen Telegram session alone must not do).
 */
export function adminMfaGate(deps: {
  db: Db;
  mfa: Pick<MfaService, 'isEnrolled'>;
  adminTelegramIds: readonly number[];
}): MiddlewareFn<Context> {
  return async (ctx, next) => {
    const telegramId = ctx.from?.id;
    if (telegramId === undefined || ctx.chat?.type !== 'private') return next();
    const user = await findUserByTelegramId(deps.db, telegramId);
    const isAdmin = user?.role === 'admin' || deps.adminTelegramIds.includes(telegramId);
    if (!isAdmin || (user && (await deps.mfa.isEnrolled(user.id)))) return next();
    if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: ctx.t('mfa.admin_required'), show_alert: true });
    else await ctx.reply(ctx.t('mfa.admin_required'));
  };
}
