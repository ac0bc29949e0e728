/**
 * Anti-spam in groups (where the bot is an admin): every message from a member is judged by
 * the rules engine (shared/antispam) and the verdict applied through the moderation actions (delete, warn,
 * mute, ban, each with an alert for the group's admins and an audit entry), or only reported in dry-run mode.
 * The group's own admins, the group itself (anonymous admins) and its linked channel are never judged.
 * Private chats are covered by the per-person rate limit (bot/middleware/ratelimit.ts).
 *
 * Optional join challenge: a new member is restricted and asked to tap "I'm human" within N seconds. The
 * button's nonce is bound to that member (bot/callbacks.ts), so nobody else can press it for them; tapping in
 * time lifts the restriction, otherwise they stay restricted and the prompt is removed on the chat's next update.
 */
import { Composer } from 'grammy';
import type { Message } from 'grammy/types';
import type { Redis } from 'ioredis';
import {
  type Antispam,
  type AntispamConfig,
  createAntispam,
  createRedisAntispamStore,
  type SpamMessage,
} from '#shared/antispam/index.ts';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { Logger } from '#shared/logger.ts';
import { arg, button, type Callbacks } from '../callbacks.ts';
import type { Context } from '../context.ts';
import { createModeration, MUTED, memberTarget, moderationFeature, personLink, UNMUTED } from './moderation.ts';

export interface AntispamFeatureDeps {
  db: Db;
  config: AntispamConfig;
  redis: Redis;
  redisPrefix: string;
  audit?: Pick<AuditLog, 'record'> | undefined;
  logger?: Logger | undefined;
  /** The bot's callback service (nonces for the join challenge); one of its own otherwise. */
  callbacks?: Callbacks | undefined;
  /** The engine (tests pass one with their own store); built from `config` over Redis otherwise. */
  antispam?: Antispam | undefined;
  now?: () => number;
}

/** "I'm human": bound by its nonce to the new member, for this chat. */
export const HUMAN_BUTTON = button('as:h', [arg.int(-(2 ** 52), 2 ** 52)], { nonce: true });

/** The message fields the rules read, from a Telegram message. */
export function spamMessageOf(message: Message, atMs: number): SpamMessage {
  const text = message.text ?? message.caption ?? '';
  const entities = message.entities ?? message.caption_entities ?? [];
  return {
    chatId: message.chat.id,
    userId: message.from?.id ?? 0,
    chatType: message.chat.type,
    atMs,
    text,
    entities: entities.map((entity) => ({
      type: entity.type,
      ...(entity.type === 'text_link' ? { url: entity.url } : {}),
    })),
    forwarded: message.forward_origin !== undefined,
    hasButtons: (message.reply_markup?.inline_keyboard.length ?? 0) > 0,
    hasMedia: Boolean(
      message.photo ?? message.video ?? message.document ?? message.sticker ?? message.animation ?? message.voice,
    ),
  };
}

export function antispamFeature(deps: AntispamFeatureDeps) {
  const now = deps.now ?? Date.now;
  const config = deps.config;
  const engine =
    deps.antispam ?? createAntispam(config, createRedisAntispamStore(deps.redis, deps.redisPrefix, config));
  const moderationDeps = {
    db: deps.db,
    redis: deps.redis,
    redisPrefix: deps.redisPrefix,
    store: engine.store,
    audit: deps.audit,
    logger: deps.logger,
    callbacks: deps.callbacks,
    warnLimit: config.warnLimit,
    muteSeconds: config.muteSeconds,
    now,
  };
  const moderation = createModeration(moderationDeps);
  const callbacks = moderation.callbacks;
  const key = (...parts: (string | number)[]) => `${deps.redisPrefix}:as:${parts.join(':')}`;
  const challengeKey = (chatId: number, userId: number) => key('ch', chatId, userId);
  const challengeQueue = (chatId: number) => key('chq', chatId);

  const composer = new Composer<Context>();
  const groups = composer.chatType(['group', 'supergroup']);

  // Challenges whose time ran out: the prompt goes, the member stays restricted (an admin can let them in).
  groups.use(async (ctx, next) => {
    if (config.joinChallengeSeconds > 0) {
      const chatId = ctx.chat.id;
      const due = await deps.redis.zrangebyscore(challengeQueue(chatId), 0, now());
      for (const member of due) {
        if ((await deps.redis.zrem(challengeQueue(chatId), member)) !== 1) continue;
        const userId = Number(member);
        const prompt = await deps.redis.getdel(challengeKey(chatId, userId));
        if (prompt) await ctx.api.deleteMessage(chatId, Number(prompt)).catch(() => undefined);
        await deps.audit?.record({
          actor: { type: 'system', id: 'bot:antispam' },
          action: 'antispam.challenge_failed',
          target: memberTarget(deps.db, chatId, userId),
          result: 'denied',
          reasonCode: 'CHALLENGE_TIMEOUT',
          source: 'bot',
        });
      }
    }
    await next();
  });

  async function joined(ctx: Context, chatId: number, user: { id: number; first_name: string; is_bot: boolean }) {
    if (user.is_bot) return;
    // Telegram can report one join twice (chat_member and a service message): handle it once.
    const first = await deps.redis.set(key('jn', chatId, user.id), '1', 'EX', 60, 'NX');
    if (first !== 'OK') return;
    await engine.store.recordJoin(chatId, user.id, now());
    const seconds = config.joinChallengeSeconds;
    if (seconds <= 0 || config.dryRun) return;
    await ctx.api.restrictChatMember(chatId, user.id, MUTED);
    const data = await callbacks.issueData(HUMAN_BUTTON, [chatId], user.id, { ttlSeconds: seconds });
    const prompt = await ctx.api.sendMessage(
      chatId,
      ctx.t('antispam.challenge', { name: personLink({ id: user.id, first_name: user.first_name }), seconds }),
      {
        parse_mode: 'HTML',
        reply_markup: { inline_keyboard: [[{ text: ctx.t('antispam.challenge_button'), callback_data: data }]] },
      },
    );
    await deps.redis.set(challengeKey(chatId, user.id), String(prompt.message_id), 'EX', seconds + 3600);
    await deps.redis.zadd(challengeQueue(chatId), now() + seconds * 1000, String(user.id));
    await deps.audit?.record({
      actor: { type: 'system', id: 'bot:antispam' },
      action: 'antispam.challenge_sent',
      target: memberTarget(deps.db, chatId, user.id),
      result: 'success',
      source: 'bot',
    });
  }

  groups.on('chat_member', async (ctx) => {
    const update = ctx.chatMember;
    const wasIn = ['member', 'administrator', 'creator'].includes(update.old_chat_member.status);
    const isIn = update.new_chat_member.status === 'member';
    if (!wasIn && isIn) await joined(ctx, ctx.chat.id, update.new_chat_member.user);
  });
  groups.on('message:new_chat_members', async (ctx) => {
    for (const member of ctx.message.new_chat_members) await joined(ctx, ctx.chat.id, member);
  });

  callbacks.handle(composer, HUMAN_BUTTON, async (ctx, [chatId]) => {
    // The nonce already proved it is the new member's own button and still in time.
    const prompt = await deps.redis.getdel(challengeKey(chatId, ctx.from.id));
    if (!prompt || ctx.chat?.id !== chatId) {
      await ctx.answerCallbackQuery({ text: ctx.t('antispam.challenge_gone'), show_alert: true });
      return;
    }
    await deps.redis.zrem(challengeQueue(chatId), String(ctx.from.id));
    await ctx.api.restrictChatMember(chatId, ctx.from.id, UNMUTED);
    await ctx.api.deleteMessage(chatId, Number(prompt)).catch(() => undefined);
    await ctx.answerCallbackQuery({ text: ctx.t('antispam.challenge_passed') });
    await deps.audit?.record({
      actor: { type: 'system', id: 'bot:antispam' },
      action: 'antispam.challenge_passed',
      target: memberTarget(deps.db, chatId, ctx.from.id),
      result: 'success',
      source: 'bot',
    });
  });

  // Admins' commands and alert buttons come before the checks, so an admin's /ban is never judged as spam.
  composer.use(moderationFeature(moderationDeps, moderation));

  async function judge(ctx: Context, message: Message, next: () => Promise<void>): Promise<void> {
    const from = message.from;
    const chatId = message.chat.id;
    // Service messages, the group itself (anonymous admins) and its linked channel's posts are not members' spam.
    if (!from || from.is_bot || message.sender_chat || message.is_automatic_forward) return next();
    if (message.new_chat_members || message.left_chat_member) return next();
    if (await moderation.isChatAdmin(ctx, chatId, from.id)) return next();
    const verdict = await engine.check(spamMessageOf(message, now()));
    if (verdict.action === 'none') return next();
    await moderation.apply(ctx, {
      chatId,
      user: from,
      messageId: message.message_id,
      action: verdict.action,
      reasons: verdict.reasons,
      by: { kind: 'rules' },
      dryRun: config.dryRun,
    });
    // In dry run the message stays and other features may still see it.
    if (config.dryRun) return next();
  }

  groups.on('message', (ctx, next) => judge(ctx, ctx.message, next));
  // A message edited into spam after it was posted (a link added later) is judged again.
  groups.on('edited_message', (ctx, next) => judge(ctx, ctx.editedMessage, next));

  return composer;
}
