/**
 * Every admin command and admin button in the bot needs a fresh second factor: an admin whose last code in the
 * bot is older than STEP_UP_SECONDS is asked for one ("enter your code to continue") before the command runs.
 * After a good code the admin sends the command (or taps the button) again; for the next 10 minutes it runs
 * at once. Admins without MFA never get here: the admin MFA gate (features/mfa.ts) stops them first.
 * People who are not admins pass straight through, so an admin command answers them exactly like an unknown
 * one (the features refuse it themselves) and nothing hints that admin commands exist.
 */
import { Composer, type Middleware } from 'grammy';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { commandsWithPermission, parseCommand } from '../commands.ts';
import type { Context } from '../context.ts';
import { defineConversation } from '../conversations/index.ts';
import { hasFreshBotStepUp, requireStepUp, type StepUpDeps } from './step-up.ts';

/** Admin commands: permission `admin` in the registry (the features behind them check the role themselves too). */
export const ADMIN_COMMANDS: readonly string[] = commandsWithPermission('admin');
/**
 * Callback data of admin buttons: lift/extend a decision, run or show a scan, extend a data request, and the
 * admin menu (`adm/…` from @grammyjs/menu, `adm:…` its sections and the role-request buttons).
 */
export const ADMIN_CALLBACK = /^(?:dd:[lx]:|scan:|dsr:x:|adm[/:])/;

const CONVERSATION_ID = 'admin-step-up';

/** The admin command this message sends to this bot (`/stats@OtherBot` is not ours), if any. */
function adminCommandOf(ctx: Context): string | undefined {
  const command = parseCommand(ctx.message, ctx.me.username);
  return command?.forUs && ADMIN_COMMANDS.includes(command.name) ? command.name : undefined;
}

export function adminStepUpGate(deps: StepUpDeps): Middleware<Context> {
  const composer = new Composer<Context>();
  composer.use(
    defineConversation(
      async (conversation, ctx) => {
        const telegramId = ctx.from?.id;
        if (telegramId === undefined) return;
        const userId = await conversation.external(
          async () => (await findUserByTelegramId(deps.db, telegramId))?.id ?? null,
        );
        if (!userId) return;
        if (await requireStepUp(conversation, ctx, deps, userId)) await ctx.reply(ctx.t('stepup.verified_retry'));
      },
      CONVERSATION_ID,
      { sensitive: true },
    ),
  );
  composer.use(async (ctx, next) => {
    const isAdminAction = adminCommandOf(ctx) !== undefined || ADMIN_CALLBACK.test(ctx.callbackQuery?.data ?? '');
    const telegramId = ctx.from?.id;
    if (!isAdminAction || telegramId === undefined || ctx.chat?.type !== 'private') return next();
    const user = await findUserByTelegramId(deps.db, telegramId);
    if (user?.role !== 'admin' || (await hasFreshBotStepUp(deps, user.id))) return next();
    if (ctx.callbackQuery) await ctx.answerCallbackQuery();
    await ctx.conversation.enter(CONVERSATION_ID);
  });
  return composer;
}
