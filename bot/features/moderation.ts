/**
 * Group moderation: the actions (delete, warn, mute, ban) shared by the automatic anti-spam and the group's own
 * admins, the alert each action posts for the admins (with ban / unmute / dismiss buttons), and the /ban, /mute
 * and /warn commands sent as replies. Every action is audited with ids and reason codes only, never the text.
 *
 * Who counts as an admin is Telegram's answer (the chat's administrators, cached briefly), checked here even
 * though the command guard checks commands too: a button tap does not pass the guard.
 */
import { randomBytes } from 'node:crypto';
import { Composer, GrammyError } from 'grammy';
import type { ChatPermissions, User as TelegramUser } from 'grammy/types';
import type { Redis } from 'ioredis';
import type { AntispamAction, AntispamStore, ReasonCode } from '#shared/antispam/index.ts';
import type { AuditActor, AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import { findUserByTelegramId, telegramAccountPseudonym } from '#shared/identity/users.ts';
import type { Logger } from '#shared/logger.ts';
import { arg, button, type Callbacks, createCallbacks } from '../callbacks.ts';
import type { Context } from '../context.ts';
import type { MessageKey } from '../i18n/index.ts';

/** How long the list of a chat's administrators is trusted. */
export const CHAT_ADMINS_CACHE_MS = 60_000;
/** An alert's buttons work this long. */
export const ALERT_TTL_SECONDS = 86_400;
/** One alert per chat, person and action within this window (a raid must not make the bot spam too). */
export const ALERT_WINDOW_SECONDS = 60;
/** Most alerts one group gets per minute (Telegram allows a bot about 20 messages a minute in a group). */
export const ALERTS_PER_CHAT_MINUTE = 5;
const LOCAL_CACHE_LIMIT = 5_000;

/** Everything off: what a muted or unverified member may do. */
export const MUTED: ChatPermissions = {
  can_send_messages: false,
  can_send_audios: false,
  can_send_documents: false,
  can_send_photos: false,
  can_send_videos: false,
  can_send_video_notes: false,
  can_send_voice_notes: false,
  can_send_polls: false,
  can_send_other_messages: false,
  can_add_web_page_previews: false,
  can_invite_users: false,
};
/** Everything a member may normally do (the group's own defaults still apply on top). */
export const UNMUTED: ChatPermissions = {
  can_send_messages: true,
  can_send_audios: true,
  can_send_documents: true,
  can_send_photos: true,
  can_send_videos: true,
  can_send_video_notes: true,
  can_send_voice_notes: true,
  can_send_polls: true,
  can_send_other_messages: true,
  can_add_web_page_previews: true,
  can_invite_users: true,
};

/** The alert buttons: an operation and the alert's id (its record holds the chat, person and message). */
export const ALERT_BUTTON = button('as:a', [
  arg.oneOf(['ban', 'unmute', 'dismiss'] as const),
  arg.text(/[A-Za-z0-9_-]{12}/),
]);

export interface ModerationDeps {
  db: Db;
  redis: Redis;
  redisPrefix: string;
  store: AntispamStore;
  audit?: Pick<AuditLog, 'record'> | undefined;
  logger?: Logger | undefined;
  callbacks?: Callbacks | undefined;
  warnLimit: number;
  muteSeconds: number;
  now?: () => number;
}

/** What happened to whom, where, and why: the input of an action. */
export interface ModerationCase {
  chatId: number;
  /** The offender. */
  user: Pick<TelegramUser, 'id' | 'first_name'>;
  /** The offending message (deleted for every action). */
  messageId?: number | undefined;
  action: Exclude<AntispamAction, 'none'>;
  reasons: readonly (ReasonCode | 'ADMIN')[];
  /** Who decided: the anti-spam rules, or a group admin. */
  by: { kind: 'rules' } | { kind: 'admin'; telegramId: number };
  dryRun?: boolean;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A person as the group sees them (their name, linked to their profile). */
export function personLink(user: Pick<TelegramUser, 'id' | 'first_name'>): string {
  return `<a href="tg://user?id=${user.id}">${escapeHtml(user.first_name.slice(0, 64))}</a>`;
}

/**
 * The audit target of an action: the member in that chat. The member's Telegram id is never written to the
 * audit trail: a keyed pseudonym stands for it (the same one for every record of that member).
 */
export function memberTarget(db: Db, chatId: number, userId: number) {
  return { type: 'telegram_member', id: `c${chatId}:u${telegramAccountPseudonym(db, userId)}` };
}

/** What was done in the end. */
export interface Applied {
  action: Exclude<AntispamAction, 'none'>;
  /** The warning count after a warning. */
  warnings: number;
  /** When a mute ends (Unix seconds). */
  until: number;
}

/** A mute's end as people read it. */
export const untilText = (seconds: number) => `${new Date(seconds * 1000).toISOString().slice(11, 16)} UTC`;

export interface Moderation {
  readonly callbacks: Callbacks;
  /** True for the chat's creator and administrators (and the chat itself, for anonymous admins). */
  isChatAdmin(ctx: Context, chatId: number, userId: number): Promise<boolean>;
  /**
   * Applies an action (or, in dry run, only reports it), audits it and, for the rules' actions, posts the
   * admins' alert. A warning that reaches the limit becomes a mute.
   */
  apply(ctx: Context, input: ModerationCase): Promise<Applied>;
  /** A refused moderation attempt: a security event (ids and a code only). */
  denied(ctx: Context, reasonCode: string): Promise<void>;
}

export function createModeration(deps: ModerationDeps): Moderation {
  const now = deps.now ?? Date.now;
  const log = deps.logger?.child({ component: 'moderation' });
  const callbacks =
    deps.callbacks ?? createCallbacks({ db: deps.db, redis: deps.redis, redisPrefix: deps.redisPrefix });
  const admins = new Map<number, { ids: Set<number>; until: number }>();
  const key = (...parts: (string | number)[]) => `${deps.redisPrefix}:as:${parts.join(':')}`;

  async function isChatAdmin(ctx: Context, chatId: number, userId: number): Promise<boolean> {
    if (ctx.message?.sender_chat?.id === chatId) return true;
    const at = now();
    let cached = admins.get(chatId);
    if (!cached || cached.until <= at) {
      let ids: Set<number>;
      try {
        const list = await ctx.api.getChatAdministrators(chatId);
        ids = new Set(list.map((member) => member.user.id));
      } catch (error) {
        // Telegram refused (the bot is not in the chat any more): nobody is an admin for us.
        if (!(error instanceof GrammyError)) throw error;
        ids = new Set();
      }
      if (admins.size >= LOCAL_CACHE_LIMIT) admins.clear();
      cached = { ids, until: at + CHAT_ADMINS_CACHE_MS };
      admins.set(chatId, cached);
    }
    return cached.ids.has(userId);
  }

  async function actorFor(by: ModerationCase['by']): Promise<AuditActor> {
    if (by.kind === 'rules') return { type: 'system', id: 'bot:antispam' };
    const person = await findUserByTelegramId(deps.db, by.telegramId);
    return person ? { type: 'user', id: person.id } : { type: 'system', id: 'bot:chat_admin' };
  }

  async function record(input: ModerationCase, action: string): Promise<void> {
    if (!deps.audit) return;
    const offender = await findUserByTelegramId(deps.db, input.user.id);
    await deps.audit.record({
      actor: await actorFor(input.by),
      action,
      target: memberTarget(deps.db, input.chatId, input.user.id),
      ...(offender ? { subjectUserId: offender.id } : {}),
      result: 'success',
      reasonCode: input.reasons[0] ?? 'ADMIN',
      source: 'bot',
    });
  }

  /** Runs a Bot API call whose failure (message already gone, not enough rights) must not stop the rest. */
  async function tolerant(what: string, call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (error) {
      if (!(error instanceof GrammyError)) throw error;
      log?.warn({ call: what, code: error.error_code }, 'Moderation call refused by Telegram');
      return false;
    }
  }

  /** The first alert for this person and action within the window, and within the chat's budget. */
  async function firstAlert(input: ModerationCase): Promise<boolean> {
    const set = await deps.redis.set(
      key('an', input.chatId, input.user.id, input.action),
      '1',
      'EX',
      ALERT_WINDOW_SECONDS,
      'NX',
    );
    if (set !== 'OK') return false;
    const budget = key('ab', input.chatId, Math.floor(now() / 60_000));
    const [[, count] = []] = ((await deps.redis.multi().incr(budget).expire(budget, 120).exec()) ?? []) as [
      Error | null,
      unknown,
    ][];
    return Number(count) <= ALERTS_PER_CHAT_MINUTE;
  }

  async function alert(ctx: Context, input: ModerationCase, outcome: string): Promise<void> {
    const reasons = input.reasons.map((reason) => ctx.t(`antispam.reason.${reason}` as MessageKey)).join(', ');
    const text = ctx.t(input.dryRun ? 'antispam.alert_dry_run' : 'antispam.alert', {
      name: personLink(input.user),
      outcome,
      reasons,
    });
    const id = randomBytes(9).toString('base64url');
    await deps.redis.set(
      key('al', id),
      // Ids only: no name or text is kept for the buttons.
      JSON.stringify({ c: input.chatId, u: input.user.id }),
      'EX',
      ALERT_TTL_SECONDS,
    );
    const row = [
      ...(input.action !== 'ban'
        ? [{ text: ctx.t('antispam.button_ban'), callback_data: callbacks.data(ALERT_BUTTON, ['ban', id]) }]
        : []),
      ...(input.action === 'mute' && !input.dryRun
        ? [{ text: ctx.t('antispam.button_unmute'), callback_data: callbacks.data(ALERT_BUTTON, ['unmute', id]) }]
        : []),
      { text: ctx.t('antispam.button_dismiss'), callback_data: callbacks.data(ALERT_BUTTON, ['dismiss', id]) },
    ];
    await ctx.api.sendMessage(input.chatId, text, {
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      reply_markup: { inline_keyboard: [row] },
    });
  }

  return {
    callbacks,
    isChatAdmin,
    async apply(ctx, input) {
      const { chatId, user } = input;
      let action = input.action;
      let warnings = 0;
      if (action === 'warn' && !input.dryRun) {
        warnings = await deps.store.addWarning(chatId, user.id);
        if (warnings >= deps.warnLimit) action = 'mute';
      }
      const until = Math.floor(now() / 1000) + deps.muteSeconds;
      if (!input.dryRun) {
        const messageId = input.messageId;
        if (messageId !== undefined) await tolerant('deleteMessage', () => ctx.api.deleteMessage(chatId, messageId));
        if (action === 'mute') {
          await tolerant('restrictChatMember', () =>
            ctx.api.restrictChatMember(chatId, user.id, MUTED, { until_date: until }),
          );
        }
        if (action === 'ban') await tolerant('banChatMember', () => ctx.api.banChatMember(chatId, user.id));
      }
      const outcome =
        action === 'warn'
          ? ctx.t('antispam.outcome.warn', { count: warnings, limit: deps.warnLimit })
          : action === 'mute'
            ? ctx.t('antispam.outcome.mute', { until: untilText(until) })
            : ctx.t(`antispam.outcome.${action}`);
      await record(input, input.dryRun ? `antispam.would_${action}` : `antispam.${action}`);
      if (input.by.kind === 'rules' && (await firstAlert({ ...input, action }))) {
        await alert(ctx, { ...input, action }, outcome);
      }
      return { action, warnings, until };
    },
    async denied(ctx, reasonCode) {
      if (!deps.audit || !ctx.from) return;
      const person = await findUserByTelegramId(deps.db, ctx.from.id);
      await deps.audit.record({
        actor: person ? { type: 'user', id: person.id } : { type: 'anonymous' },
        action: 'security.moderation_denied',
        ...(ctx.chat ? { target: { type: 'telegram_chat', id: `c${ctx.chat.id}` } } : {}),
        result: 'denied',
        reasonCode,
        source: 'bot',
      });
    },
  };
}

const COMMAND_ACTIONS = { ban: 'ban', mute: 'mute', warn: 'warn' } as const;

/** /ban, /mute and /warn as replies, and the alert buttons. */
export function moderationFeature(deps: ModerationDeps, moderation: Moderation) {
  const composer = new Composer<Context>();
  const groups = composer.chatType(['group', 'supergroup']);
  const key = (...parts: (string | number)[]) => `${deps.redisPrefix}:as:${parts.join(':')}`;

  groups.command(['ban', 'mute', 'warn'], async (ctx) => {
    const command = ctx.message.text.slice(1).split(/[@\s]/)[0]?.toLowerCase() as keyof typeof COMMAND_ACTIONS;
    const chatId = ctx.chat.id;
    if (!(await moderation.isChatAdmin(ctx, chatId, ctx.from.id))) {
      // No effect, no hint: the same silence as any unknown command in a group.
      await moderation.denied(ctx, 'CHAT_ADMIN_REQUIRED');
      return;
    }
    const target = ctx.message.reply_to_message;
    const offender = target?.from;
    if (!target || !offender) {
      await ctx.reply(ctx.t('moderation.reply_needed', { command }), {
        reply_parameters: { message_id: ctx.message.message_id },
      });
      return;
    }
    if (offender.is_bot || (await moderation.isChatAdmin(ctx, chatId, offender.id))) {
      await ctx.reply(ctx.t('moderation.not_target'), { reply_parameters: { message_id: ctx.message.message_id } });
      return;
    }
    const action = COMMAND_ACTIONS[command];
    const done = await moderation.apply(ctx, {
      chatId,
      user: offender,
      messageId: target.message_id,
      action,
      reasons: ['ADMIN'],
      by: { kind: 'admin', telegramId: ctx.from.id },
    });
    const until = untilText(done.until);
    const name = personLink(offender);
    const text =
      done.action === 'ban'
        ? ctx.t('moderation.banned', { name })
        : done.action === 'mute'
          ? action === 'warn'
            ? ctx.t('moderation.warned_muted', { name, limit: deps.warnLimit, until })
            : ctx.t('moderation.muted', { name, until })
          : ctx.t('moderation.warned', { name, count: done.warnings, limit: deps.warnLimit });
    await ctx.reply(text, { parse_mode: 'HTML' });
    // The command itself is noise in the group once done.
    await ctx.deleteMessage().catch(() => undefined);
  });

  moderation.callbacks.handle(composer, ALERT_BUTTON, async (ctx, [operation, id]) => {
    const chatId = ctx.chat?.id;
    if (chatId === undefined || !(await moderation.isChatAdmin(ctx, chatId, ctx.from.id))) {
      await moderation.denied(ctx, 'CHAT_ADMIN_REQUIRED');
      await ctx.answerCallbackQuery({ text: ctx.t('antispam.admins_only'), show_alert: true });
      return;
    }
    // Single use: the first admin's decision takes the alert.
    const raw = await deps.redis.getdel(key('al', id));
    const saved = raw ? (JSON.parse(raw) as { c: number; u: number }) : undefined;
    if (!saved || saved.c !== chatId) {
      await ctx.answerCallbackQuery({ text: ctx.t('antispam.alert_gone') });
      return;
    }
    const user = { id: saved.u, first_name: '' };
    if (operation === 'ban') {
      await moderation.apply(ctx, {
        chatId,
        user,
        action: 'ban',
        reasons: ['ADMIN'],
        by: { kind: 'admin', telegramId: ctx.from.id },
      });
    } else if (operation === 'unmute') {
      await ctx.api.restrictChatMember(chatId, user.id, UNMUTED);
      await deps.store.clearWarnings(chatId, user.id);
      if (deps.audit) {
        const admin = await findUserByTelegramId(deps.db, ctx.from.id);
        await deps.audit.record({
          actor: admin ? { type: 'user', id: admin.id } : { type: 'system', id: 'bot:chat_admin' },
          action: 'antispam.unmute',
          target: memberTarget(deps.db, chatId, user.id),
          result: 'success',
          reasonCode: 'ADMIN',
          source: 'bot',
        });
      }
    }
    const handled: MessageKey = `antispam.handled_${operation}`;
    await ctx.editMessageReplyMarkup({ reply_markup: { inline_keyboard: [] } }).catch(() => undefined);
    await ctx.answerCallbackQuery({ text: ctx.t(handled) });
  });

  return composer;
}
