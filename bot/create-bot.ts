/**
 * createBot: the bot's composition root. Features are registered in one ordered list under one error
 * boundary, with the unhandled-update feature last.
 */
import { sequentialize } from '@grammyjs/runner';
import { Bot, type BotConfig, type BotError, GrammyError, HttpError } from 'grammy';
import type { LanguageCode, UserFromGetMe } from 'grammy/types';
import type { Redis } from 'ioredis';
import type { ApiKeyService } from '#shared/api-keys/index.ts';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { Defense } from '#shared/defense/index.ts';
import { isDomainError } from '#shared/errors.ts';
import type { Logger } from '#shared/logger.ts';
import type { Metrics } from '#shared/metrics/index.ts';
import type { MfaService } from '#shared/mfa/index.ts';
import type { PrivacyService } from '#shared/privacy/index.ts';
import type { ScannerService } from '#shared/scanner/index.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import type { Context } from './context.ts';
import { installConversations } from './conversations/index.ts';
import { adminStepUpGate } from './features/admin-step-up.ts';
import { apiKeysFeature } from './features/api-keys.ts';
import { consentFeature } from './features/consent.ts';
import { decisionsFeature } from './features/decisions.ts';
import { helpFeature } from './features/help.ts';
import { adminMfaGate, mfaFeature } from './features/mfa.ts';
import { mydataFeature } from './features/mydata.ts';
import { privacyFeature } from './features/privacy.ts';
import { scanFeature } from './features/scan.ts';
import { sessionsFeature } from './features/sessions.ts';
import { startFeature } from './features/start.ts';
import { statsFeature } from './features/stats.ts';
import { unhandledFeature } from './features/unhandled.ts';
import { type MessageKey, pickLocale, translator } from './i18n/index.ts';
import { intake } from './intake.ts';
import { decisionGuard } from './middleware/decisions.ts';

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
  /** Redis for conversations (state per user under `${redisPrefix}:conv:`); without it no conversation runs. */
  redis?: Redis;
  redisPrefix?: string;
  /** Two-factor codes (/mfa, bot step-up, the admin-must-enrol gate); needs `redis`. */
  mfa?: MfaService;
  /** A conversation wait's timeout in ms (10 minutes by default). */
  conversationWaitMs?: number;
  /** Messages older than this on arrival are dropped (bot/intake.ts). Default 600. */
  maxUpdateAgeSeconds?: number;
  /** Intrusion-detection decisions: enforced on every update; /decisions and /stats for admins. */
  defense?: { service: Defense; redis: Redis; redisPrefix: string; metrics?: Metrics | undefined };
  /** Vulnerability scans (/scan for admins); the feature is off without it. */
  scanner?: ScannerService;
  /** Consent gate, /privacy, /mydata and /dsr for admins; the features are off without it. */
  privacy?: PrivacyService;
}

/** Commands shown in Telegram's menu, per locale (set with setMyCommands at start). */
export const BOT_COMMANDS: readonly { command: string; description: MessageKey }[] = [
  { command: 'start', description: 'commands.start' },
  { command: 'help', description: 'commands.help' },
  { command: 'sessions', description: 'commands.sessions' },
  { command: 'apikeys', description: 'commands.apikeys' },
  { command: 'mfa', description: 'commands.mfa' },
  { command: 'privacy', description: 'commands.privacy' },
  { command: 'mydata', description: 'commands.mydata' },
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

  if (deps.redis) {
    // First of all: each update once, none from bots, none stale (bot/intake.ts).
    const redis = deps.redis;
    bot.use(
      intake({
        redis,
        redisPrefix: deps.redisPrefix ?? 'tsp',
        botId: () => bot.botInfo.id,
        maxAgeSeconds: deps.maxUpdateAgeSeconds ?? 600,
        logger: deps.logger,
      }),
    );
  }
  bot.use(sequentialize(updateSequenceKey));
  bot.use(async (ctx, next) => {
    ctx.locale = pickLocale(ctx.from?.language_code);
    ctx.t = translator(ctx.locale);
    await next();
  });
  if (deps.defense) {
    // Before every feature: a banned or throttled account gets one short reply, then silence.
    bot.use(
      decisionGuard({
        defense: deps.defense.service,
        redis: deps.defense.redis,
        redisPrefix: deps.defense.redisPrefix,
        metrics: deps.defense.metrics,
      }),
    );
  }

  // Conversations (bot/conversations): other features register theirs with `defineConversation`.
  const conversationStore = deps.redis ? { redis: deps.redis, redisPrefix: deps.redisPrefix ?? 'tsp' } : undefined;
  if (conversationStore) installConversations(bot, conversationStore);

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
    // First: its /start hook wraps the start feature, and its gate holds back everything but /start, /help and
    // /privacy until the person has made their consent choices.
    ...(deps.privacy ? [consentFeature({ db: deps.db, privacy: deps.privacy, publicUrl: deps.publicUrl })] : []),
    startFeature({ db: deps.db, adminTelegramIds: deps.adminTelegramIds, publicUrl: deps.publicUrl }),
    helpFeature(),
    ...(deps.mfa && conversationStore
      ? [
          mfaFeature({
            db: deps.db,
            mfa: deps.mfa,
            ...conversationStore,
            ...(deps.conversationWaitMs !== undefined ? { waitMs: deps.conversationWaitMs } : {}),
          }),
          // After /start, /help and /mfa: an admin without MFA can use nothing else.
          adminMfaGate({ db: deps.db, mfa: deps.mfa, adminTelegramIds: deps.adminTelegramIds }),
          // Then every admin command and button needs a code from the last 10 minutes.
          adminStepUpGate({
            db: deps.db,
            mfa: deps.mfa,
            ...conversationStore,
            ...(deps.conversationWaitMs !== undefined ? { waitMs: deps.conversationWaitMs } : {}),
          }),
        ]
      : []),
    ...(deps.privacy
      ? [
          privacyFeature({ db: deps.db, privacy: deps.privacy, publicUrl: deps.publicUrl }),
          mydataFeature({
            db: deps.db,
            privacy: deps.privacy,
            mfa: deps.mfa,
            conversations: conversationStore !== undefined,
          }),
        ]
      : []),
    ...(deps.sessions ? [sessionsFeature({ db: deps.db, sessions: deps.sessions, audit: deps.audit })] : []),
    ...(deps.apiKeys ? [apiKeysFeature({ db: deps.db, service: deps.apiKeys })] : []),
    ...(deps.defense
      ? [
          decisionsFeature({
            db: deps.db,
            defense: deps.defense.service,
            redis: deps.defense.redis,
            redisPrefix: deps.defense.redisPrefix,
          }),
          statsFeature({ db: deps.db, defense: deps.defense.service }),
        ]
      : []),
    ...(deps.scanner ? [scanFeature({ db: deps.db, scanner: deps.scanner, audit: deps.audit })] : []),
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
