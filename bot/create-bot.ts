/**
 * createBot: the bot's composition root. Features are registered in one ordered list under one error
 * boundary, with the unhandled-update feature last.
 */
import { sequentialize } from '@grammyjs/runner';
import { Bot, type BotConfig, type BotError, GrammyError, HttpError } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { Redis } from 'ioredis';
import type { AntispamConfig } from '#shared/antispam/config.ts';
import type { ApiKeyService } from '#shared/api-keys/index.ts';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { Defense } from '#shared/defense/index.ts';
import { isDomainError } from '#shared/errors.ts';
import { createRoleGrantService, type RoleChangedNotice, type RoleGrantNotice } from '#shared/identity/role-grants.ts';
import { listActiveAdmins } from '#shared/identity/users.ts';
import type { Logger } from '#shared/logger.ts';
import type { Metrics } from '#shared/metrics/index.ts';
import type { MfaService } from '#shared/mfa/index.ts';
import type { PrivacyService } from '#shared/privacy/index.ts';
import type { ScannerService } from '#shared/scanner/index.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import { createCallbacks } from './callbacks.ts';
import { COMMAND_MENUS, setCommandMenus } from './commands.ts';
import type { Context } from './context.ts';
import { installConversations } from './conversations/index.ts';
import type { ConversationStateStore } from './conversations/state-store.ts';
import { type AdminFeatureDeps, adminFeature } from './features/admin/index.ts';
import { adminStepUpGate } from './features/admin-step-up.ts';
import { antispamFeature } from './features/antispam.ts';
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
import { commandGuard } from './middleware/command-guard.ts';
import { decisionGuard } from './middleware/decisions.ts';
import { privateRateLimit } from './middleware/ratelimit.ts';
import {
  canUseWebhookReply,
  conversationTransformers,
  type OutgoingOptions,
  outgoingTransformers,
  type ReachableCache,
  reachability,
  webhookReplies,
} from './outgoing.ts';

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
  /** Anti-spam in groups, /ban /mute /warn, the join challenge, and the private-chat rate limit; needs `redis`. */
  antispam?: AntispamConfig;
  /** Two-factor codes (/mfa, bot step-up, the admin-must-enrol gate); needs `redis`. */
  mfa?: MfaService;
  /**
   * Where conversation state is read and written (bot/conversations/state-store.ts); servers pass one that
   * remembers who has no conversation. Default: Redis directly.
   */
  conversationState?: ConversationStateStore;
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
  /** Outgoing calls: retry bounds and throttler limits (bot/outgoing.ts; defaults are Telegram's limits). */
  outgoing?: OutgoingOptions;
  /**
   * The /admin menu (needs `redis`, `audit` and `mfa`): how it tells people about role changes and role
   * requests (notify jobs, ids only), and key rotation (the ring, and queueing re-encryption).
   */
  admin?: {
    notify: (notice: RoleGrantNotice | RoleChangedNotice) => Promise<void>;
    keys?: AdminFeatureDeps['keys'];
  };
}

/** The menu everyone sees in a private chat (from the registry, bot/commands.ts); admins get more in theirs. */
export const BOT_COMMANDS: readonly { command: string; description: MessageKey }[] = COMMAND_MENUS.private.map(
  ({ command, description }) => ({ command, description }),
);

/** What setBotCommands needs to find the admins (their own menu), kept per bot built here. */
const menuSources = new WeakMap<Bot<Context>, { db: Db; adminTelegramIds: readonly number[] }>();

/** Commands whose one reply is all they do: answered in the webhook response when delivered by webhook. */
export const WEBHOOK_REPLY_COMMANDS: readonly string[] = ['help'];

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
      // Only the reply marked by `webhookReplies` (bot/outgoing.ts) travels in a webhook response.
      canUseWebhookReply,
      ...(deps.fetch ? { fetch: deps.fetch as NonNullable<NonNullable<BotConfig<Context>['client']>['fetch']> } : {}),
    },
    ...(deps.botInfo ? { botInfo: deps.botInfo } : {}),
  };
  const bot = new Bot<Context>(token, config);
  menuSources.set(bot, { db: deps.db, adminTelegramIds: deps.adminTelegramIds });
  const log = deps.logger.child({ component: 'bot' });
  // Outgoing calls: 429 retry, throttling, 403 "blocked" tracking (bot/outgoing.ts), for every update's ctx.api too.
  const reachable: ReachableCache = new Map();
  bot.api.config.use(...outgoingTransformers({ db: deps.db, logger: log, reachable }, deps.outgoing));

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
  // Who blocked or unblocked the bot, and who wrote again (users.bot_blocked_at).
  bot.use(reachability({ db: deps.db, logger: log, reachable }));
  // Reply-only commands answer inside the webhook response (no Bot API request of their own).
  bot.use(webhookReplies(WEBHOOK_REPLY_COMMANDS));
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
  if (deps.antispam && deps.redis) {
    // Per-person limit in private chats and on buttons (groups are judged by the anti-spam feature instead).
    bot.use(
      privateRateLimit({
        redis: deps.redis,
        redisPrefix: deps.redisPrefix ?? 'tsp',
        limit: deps.antispam.rateLimit.limit,
        seconds: deps.antispam.rateLimit.seconds,
        flushMs: deps.antispam.rateLimit.flushMs,
        onFlushError: (error) => {
          log.warn({ err: error instanceof Error ? { message: error.message } : {} }, 'bot rate limit flush');
        },
      }),
    );
  }
  // Every command against the registry (bot/commands.ts): permission and chat, before any feature sees it.
  bot.use(
    commandGuard({
      db: deps.db,
      logger: deps.logger,
      audit: deps.audit,
      redis: deps.redis,
      redisPrefix: deps.redisPrefix ?? 'tsp',
    }),
  );

  // Conversations (bot/conversations): other features register theirs with `defineConversation`.
  const conversationStore = deps.redis
    ? {
        redis: deps.redis,
        redisPrefix: deps.redisPrefix ?? 'tsp',
        ...(deps.conversationState ? { stateStore: deps.conversationState } : {}),
      }
    : undefined;
  if (conversationStore) {
    installConversations(bot, {
      ...conversationStore,
      transformers: conversationTransformers({ db: deps.db, logger: log, reachable }, deps.outgoing),
    });
  }

  // Callback data checks, owner binding and single-use nonces for every feature's buttons (bot/callbacks.ts).
  const callbacks = createCallbacks({
    db: deps.db,
    redis: deps.redis,
    redisPrefix: deps.redisPrefix ?? 'tsp',
    audit: deps.audit,
    logger: deps.logger,
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
    // Group spam first: group messages go to no other feature, and /ban /mute /warn need no consent step.
    ...(deps.antispam && deps.redis
      ? [
          antispamFeature({
            db: deps.db,
            config: deps.antispam,
            redis: deps.redis,
            redisPrefix: deps.redisPrefix ?? 'tsp',
            audit: deps.audit,
            logger: deps.logger,
            callbacks,
          }),
        ]
      : []),
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
            callbacks,
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
          privacyFeature({ db: deps.db, privacy: deps.privacy, publicUrl: deps.publicUrl, callbacks }),
          mydataFeature({
            db: deps.db,
            privacy: deps.privacy,
            mfa: deps.mfa,
            conversations: conversationStore !== undefined,
            callbacks,
          }),
        ]
      : []),
    ...(deps.sessions ? [sessionsFeature({ db: deps.db, sessions: deps.sessions, audit: deps.audit, callbacks })] : []),
    ...(deps.apiKeys ? [apiKeysFeature({ db: deps.db, service: deps.apiKeys, callbacks })] : []),
    ...(deps.defense
      ? [
          decisionsFeature({
            db: deps.db,
            defense: deps.defense.service,
            redis: deps.defense.redis,
            redisPrefix: deps.defense.redisPrefix,
            callbacks,
          }),
          statsFeature({ db: deps.db, defense: deps.defense.service }),
        ]
      : []),
    ...(deps.scanner ? [scanFeature({ db: deps.db, scanner: deps.scanner, audit: deps.audit, callbacks })] : []),
    ...(deps.admin && deps.redis && deps.audit
      ? [
          adminFeature({
            db: deps.db,
            audit: deps.audit,
            callbacks,
            grants: createRoleGrantService({
              db: deps.db,
              audit: deps.audit,
              notify: deps.admin.notify,
              setSessionRole: deps.sessions?.setRole.bind(deps.sessions),
            }),
            redis: deps.redis,
            redisPrefix: deps.redisPrefix ?? 'tsp',
            sessions: deps.sessions,
            notify: deps.admin.notify,
            defense: deps.defense?.service,
            scanner: deps.scanner,
            privacy: deps.privacy,
            keys: deps.admin.keys,
          }),
        ]
      : []),
    // Taps no feature took: forged data is refused with a security event, stale buttons answered politely.
    callbacks.fallback(),
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

/**
 * Registers the command menus in every locale, per audience (bot/commands.ts setCommandMenus): private chats,
 * groups, group administrators, and each admin (ADMIN_TELEGRAM_IDS and users with the admin role) in their
 * own private chat only.
 */
export async function setBotCommands(bot: Bot<Context>, locales: readonly string[]): Promise<void> {
  const source = menuSources.get(bot);
  const admins = source ? (await listActiveAdmins(source.db)).map((user) => user.telegramId) : [];
  await setCommandMenus(bot.api, { adminTelegramIds: [...(source?.adminTelegramIds ?? []), ...admins], locales });
}
