/**
 * createBot: the bot's composition root. Features are registered in one ordered list under one error
 * boundary, with the unhandled-update feature last.
 */
import { sequentialize } from '@grammyjs/runner';
import { Bot, type BotConfig, type BotError, GrammyError, HttpError } from 'grammy';
import type { LanguageCode, UserFromGetMe } from 'grammy/types';
import type { ApiKeyService } from '#shared/api-keys/index.ts';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import { isDomainError } from '#shared/errors.ts';
import type { Logger } from '#shared/logger.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import type { Context } from './context.ts';
import { apiKeysFeature } from './features/api-keys.ts';
import { helpFeature } from './features/help.ts';
import { sessionsFeature } from './features/sessions.ts';
import { startFeature } from './features/start.ts';
import { unhandledFeature } from './features/unhandled.ts';
import { type MessageKey, pickLocale, translator } from './i18n/index.ts';

export interface BotDeps {
  db: Db;
  logger: Logger;
  adminTelegramIds: readonly number[];
  publicUrl: string | undefined;
  /** Bot API root (Telegram's by default; an emulator in tests). */
  apiRoot: string;
  /** Known bot info skips getMe (tests, and faster restarts). */
  botInfo?: UserFromGetMe;
  /** The HTTP client's fetch (tests pass a recording fake). */
  fetch?: typeof fetch;
  /** API keys (/apikeys); the feature is off without it. */
  apiKeys?: ApiKeyService;
  /** Signed-in sessions (/sessions); the feature is off without it. */
  sessions?: SessionStore;
  /** The audit trail, for actions the bot takes itself (ending sessions). */
  audit?: Pick<AuditLog, 'record'>;
}

/** Commands shown in Telegram's menu, per locale (set with setMyCommands at start). */
export const BOT_COMMANDS: readonly { command: string; description: MessageKey }[] = [
  { command: 'start', description: 'commands.start' },
  { command: 'help', description: 'commands.help' },
  { command: 'sessions', description: 'commands.sessions' },
  { command: 'apikeys', description: 'commands.apikeys' },
];

/** Serialises updates per chat (and per user outside chats) so one user's updates never race each other. */
export function updateSequenceKey(ctx: Context): string | undefined {
  const chat = ctx.chat?.id;
  if (chat !== undefined) return `chat:${chat}`;
  const user = ctx.from?.id;
  return user === undefined ? undefined : `user:${user}`;
}

/** Builds the bot. Nothing is fetched until it is started or handles an update. */
export function createBot(token: string, deps: BotDeps): Bot<Context> {
  const config: BotConfig<Context> = {
    client: {
      apiRoot: deps.apiRoot,
      ...(deps.fetch ? { fetch: deps.fetch as NonNullable<NonNullable<BotConfig<Context>['client']>['fetch']> } : {}),
    },
    ...(deps.botInfo ? { botInfo: deps.botInfo } : {}),
  };
  const bot = new Bot<Context>(token, config);
  const log = deps.logger.child({ component: 'bot' });

  bot.use(sequentialize(updateSequenceKey));
  bot.use(async (ctx, next) => {
    ctx.locale = pickLocale(ctx.from?.language_code);
    ctx.t = translator(ctx.locale);
    await next();
  });

  const boundary = bot.errorBoundary(async (error) => {
    const ctx = error.ctx;
    const cause = error.error;
    // Log ids and codes only: never message text or names (personal data).
    log.error(
      {
        updateId: ctx.update.update_id,
        err: cause instanceof Error ? { name: cause.name, message: cause.message } : String(cause),
      },
      'Bot update failed',
    );
    const text = isDomainError(cause)
      ? ctx.t('errors.domain', { message: cause.message })
      : isUnavailable(cause)
        ? ctx.t('errors.unavailable')
        : ctx.t('errors.generic');
    try {
      if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text, show_alert: true });
      else if (ctx.chat?.type === 'private') await ctx.reply(text);
    } catch {
      // Replying failed too (Telegram down, user blocked the bot): already logged above.
    }
  });
  boundary.use(
    startFeature({ db: deps.db, adminTelegramIds: deps.adminTelegramIds, publicUrl: deps.publicUrl }),
    helpFeature(),
    ...(deps.sessions ? [sessionsFeature({ db: deps.db, sessions: deps.sessions, audit: deps.audit })] : []),
    ...(deps.apiKeys ? [apiKeysFeature({ db: deps.db, service: deps.apiKeys })] : []),
    unhandledFeature(),
  );

  // Errors escaping the boundary (they should not) are logged, never allowed to stop the runner.
  bot.catch((error: BotError<Context>) => {
    log.error({ updateId: error.ctx.update.update_id, err: String(error.error) }, 'Unhandled bot error');
  });
  return bot;
}

function isUnavailable(error: unknown): boolean {
  if (error instanceof HttpError) return true;
  if (error instanceof GrammyError) return false;
  return error instanceof Error && /redis|ECONNREFUSED|Connection is closed|connect/i.test(error.message);
}

/** Registers the command menu in every locale. */
export async function setBotCommands(bot: Bot<Context>, locales: readonly string[]): Promise<void> {
  for (const locale of locales) {
    const t = translator(locale);
    const commands = BOT_COMMANDS.map(({ command, description }) => ({ command, description: t(description) }));
    await bot.api.setMyCommands(commands, locale === 'en' ? {} : { language_code: locale as LanguageCode });
  }
}
