/**
 * Step-up in the bot: "enter your code to continue". A sensitive action (every admin command, turning MFA
 * off) first checks that the person verified a second factor in the bot within STEP_UP_SECONDS; if not, it
 * asks for a code inside a conversation, deletes the message carrying it, and verifies it on the `bot`
 * channel (its own lockout, separate from the API's).
 *
 * For an admin command, wrap its action once:
 *
 *   const [middleware, enter] = stepUpAction('admin-ban', deps, async (ctx, userId) => { ...the action... });
 *   composer.use(middleware);
 *   adminOnly.command('ban', enter);          // asks for a code only when the last one is older than 10 min
 */
import type { Middleware } from 'grammy';
import type { Redis } from 'ioredis';
import type { Db } from '#shared/db/index.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { type MfaService, STEP_UP_SECONDS } from '#shared/mfa/index.ts';
import type { Context } from '../context.ts';
import {
  type BotConversation,
  type ConversationContext,
  cancelKeyboard,
  defineConversation,
  waitStep,
} from '../conversations/index.ts';

export interface StepUpDeps {
  db: Db;
  mfa: Pick<MfaService, 'verify' | 'isEnrolled'>;
  redis: Redis;
  redisPrefix: string;
  /** Wait timeout per step (tests shorten it); 10 minutes by default. */
  waitMs?: number;
}

/** Wrong codes accepted in one step-up before it stops (the lockout counts them too). */
export const STEP_UP_TRIES = 3;

const freshKey = (deps: StepUpDeps, userId: string) => `${deps.redisPrefix}:bot-step-up:${userId}`;

/** Records a second-factor check in the bot now (valid for STEP_UP_SECONDS). */
export async function markBotStepUp(deps: Pick<StepUpDeps, 'redis' | 'redisPrefix'>, userId: string): Promise<void> {
  await deps.redis.set(freshKey(deps as StepUpDeps, userId), '1', 'EX', STEP_UP_SECONDS);
}

/** True when the person verified a code in the bot within STEP_UP_SECONDS. */
export async function hasFreshBotStepUp(
  deps: Pick<StepUpDeps, 'redis' | 'redisPrefix'>,
  userId: string,
): Promise<boolean> {
  return (await deps.redis.exists(freshKey(deps as StepUpDeps, userId))) === 1;
}

/** Deletes a message, ignoring failures (already deleted, too old): the code was read either way. */
export async function deleteQuietly(ctx: { api: Context['api'] }, chatId: number, messageId: number): Promise<void> {
  try {
    await ctx.api.deleteMessage(chatId, messageId);
  } catch {
    // Telegram refuses deleting messages older than 48 h; a code message never is.
  }
}

/**
 * Inside a conversation: makes sure the person has a fresh second factor, asking for a code if needed.
 * The code's message is deleted and the code verified in the same step (only the verdict is stored).
 * @returns true when the action may go ahead; false when it was refused (the person has been told why).
 */
export async function requireStepUp(
  conversation: BotConversation,
  ctx: ConversationContext,
  deps: StepUpDeps,
  userId: string,
): Promise<boolean> {
  const state = await conversation.external(async () => ({
    fresh: await hasFreshBotStepUp(deps, userId),
    enrolled: await deps.mfa.isEnrolled(userId),
  }));
  if (!state.enrolled) {
    await ctx.reply(ctx.t('stepup.not_enrolled'));
    return false;
  }
  if (state.fresh) return true;
  await ctx.reply(ctx.t('stepup.ask'), { reply_markup: cancelKeyboard(ctx) });
  for (let attempt = 1; attempt <= STEP_UP_TRIES; attempt++) {
    const step = await waitStep(conversation, deps.waitMs === undefined ? {} : { timeoutMs: deps.waitMs });
    if (step.kind === 'cancelled') {
      await ctx.reply(ctx.t('mfa.cancelled'));
      return false;
    }
    const message = step.ctx.message;
    if (step.kind === 'timeout') {
      if (message)
        await conversation.external((outside) => deleteQuietly(outside, message.chat.id, message.message_id));
      await ctx.reply(ctx.t('mfa.timeout'));
      return false;
    }
    if (!message?.text) {
      await ctx.reply(ctx.t('mfa.send_code_as_text'));
      attempt--;
      continue;
    }
    const verdict = await conversation.external(async (outside) => {
      // Read, delete, verify in one step: the text is redacted before the conversation state is stored.
      await deleteQuietly(outside, message.chat.id, message.message_id);
      const result = await deps.mfa.verify(userId, message.text ?? '', 'bot');
      if (result === 'ok') await markBotStepUp(deps, userId);
      return result;
    });
    if (verdict === 'ok') return true;
    if (verdict === 'locked') {
      await ctx.reply(ctx.t('mfa.locked_now'));
      return false;
    }
    if (verdict === 'not_enrolled') {
      await ctx.reply(ctx.t('stepup.not_enrolled'));
      return false;
    }
    const left = STEP_UP_TRIES - attempt;
    if (left === 0) break;
    await ctx.reply(ctx.t('stepup.wrong_code', { left, tries: ctx.t(left === 1 ? 'mfa.try' : 'mfa.tries') }));
  }
  await ctx.reply(ctx.t('stepup.failed'));
  return false;
}

/**
 * A bot action guarded by step-up: returns the conversation's middleware (use it in the feature's composer)
 * and a handler that enters it. The action runs (in `external`) only after a fresh second factor.
 */
export function stepUpAction(
  id: string,
  deps: StepUpDeps,
  action: (ctx: Context, userId: string) => Promise<void>,
): [Middleware<Context>, (ctx: Context) => Promise<void>] {
  const middleware = defineConversation(
    async (conversation, ctx) => {
      const telegramId = ctx.from?.id;
      if (telegramId === undefined) return;
      const userId = await conversation.external(
        async () => (await findUserByTelegramId(deps.db, telegramId))?.id ?? null,
      );
      if (!userId) return;
      if (!(await requireStepUp(conversation, ctx, deps, userId))) return;
      await conversation.external((outside) => action(outside, userId));
    },
    id,
    { sensitive: true },
  );
  return [middleware, (ctx) => ctx.conversation.enter(id)];
}
