/**
 * The command guard: every command is checked against the registry (bot/commands.ts) before any feature sees
 * it, so a command cannot run for someone its declared permission does not cover, or in a chat it is not
 * declared for.
 *
 * - Not a command, a command for another bot (`/cmd@OtherBot`), or one the registry does not know: left to the
 *   features (the unhandled feature answers unknown ones).
 * - Wrong chat: a private-chat command sent in a group gets a short hint with a button opening the private
 *   chat (at most once per chat, command and minute), and never runs there; admin commands get silence in
 *   groups, so a group never learns they exist. A group command in a private chat gets a short hint.
 * - Permission: `anyone` and `user` pass (the consent gate in bot/features/consent.ts holds `user` commands
 *   until the consent step is done); `admin` needs the admin role; `chat_admin` needs Telegram administrator
 *   status in that group (getChatMember, cached briefly).
 * - Denied: exactly the reply of an unknown command (bot/features/unhandled.ts: a reply in private, silence in
 *   groups), plus one `security.bot_command_denied` audit entry per person, command and minute, so a flood of
 *   attempts writes one row. The entry names the account (if any), the command and the missing permission;
 *   never the message text, and never the Telegram id of someone without an account.
 * - A failure while checking (database or Telegram unreachable) fails closed: the command does not run.
 */
import { GrammyError, type MiddlewareFn } from 'grammy';
import type { Redis } from 'ioredis';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { User } from '#shared/db/schema.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import type { Logger } from '#shared/logger.ts';
import { type CommandSpec, commandSpec, parseCommand, worksIn } from '../commands.ts';
import type { Context } from '../context.ts';
import { replyUnknown } from '../features/unhandled.ts';

/** How long a Telegram administrator check is trusted. */
export const CHAT_ADMIN_CACHE_MS = 60_000;
/** One audit entry (and one wrong-chat hint) per key within this window. */
export const COMMAND_DENIED_WINDOW_SECONDS = 60;
/** Most entries the in-process caches keep; beyond that they restart (bounded memory under a flood). */
const LOCAL_CACHE_LIMIT = 10_000;

export type CommandDenialReason = 'ADMIN_REQUIRED' | 'CHAT_ADMIN_REQUIRED';

export interface CommandGuardDeps {
  db: Db;
  logger: Logger;
  /** Denied commands are security events; without an audit trail they are only refused. */
  audit?: Pick<AuditLog, 'record'> | undefined;
  /** Deduplicates events and hints across processes; without it, per process. */
  redis?: Redis | undefined;
  redisPrefix: string;
  chatAdminCacheMs?: number;
  now?: () => number;
}

type Verdict =
  | { kind: 'pass' }
  | { kind: 'stop' }
  | { kind: 'deny'; reason: CommandDenialReason; spec: CommandSpec; user: User | null | undefined };

export function commandGuard(deps: CommandGuardDeps): MiddlewareFn<Context> {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'command-guard' });
  const chatAdminCacheMs = deps.chatAdminCacheMs ?? CHAT_ADMIN_CACHE_MS;
  const chatAdmins = new Map<string, { admin: boolean; until: number }>();
  const localOnce = new Map<string, number>();

  /** True the first time `key` is seen within the window (Redis SET NX; per process without Redis). */
  const firstInWindow = async (key: string): Promise<boolean> => {
    if (deps.redis) {
      try {
        const first = await deps.redis.set(
          `${deps.redisPrefix}:${key}`,
          '1',
          'EX',
          COMMAND_DENIED_WINDOW_SECONDS,
          'NX',
        );
        return first === 'OK';
      } catch {
        // Redis unreachable: fall back to this process's memory (an event too many beats none).
      }
    }
    const at = now();
    const until = localOnce.get(key);
    if (until !== undefined && until > at) return false;
    if (localOnce.size >= LOCAL_CACHE_LIMIT) localOnce.clear();
    localOnce.set(key, at + COMMAND_DENIED_WINDOW_SECONDS * 1000);
    return true;
  };

  const isChatAdmin = async (ctx: Context, chatId: number, userId: number): Promise<boolean> => {
    // An anonymous group admin writes as the group itself.
    if (ctx.message?.sender_chat?.id === chatId) return true;
    const key = `${chatId}:${userId}`;
    const at = now();
    const cached = chatAdmins.get(key);
    if (cached && cached.until > at) return cached.admin;
    let admin: boolean;
    try {
      const member = await ctx.api.getChatMember(chatId, userId);
      admin = member.status === 'creator' || member.status === 'administrator';
    } catch (error) {
      // Telegram refused (the bot was removed, the person is unknown there): not an administrator.
      if (!(error instanceof GrammyError)) throw error;
      admin = false;
    }
    if (chatAdmins.size >= LOCAL_CACHE_LIMIT) chatAdmins.clear();
    chatAdmins.set(key, { admin, until: at + chatAdminCacheMs });
    return admin;
  };

  /** Why this person may not run `spec` here, or undefined when they may. */
  const check = async (ctx: Context, spec: CommandSpec, telegramId: number): Promise<Verdict> => {
    switch (spec.permission) {
      case 'anyone':
      case 'user':
        return { kind: 'pass' };
      case 'admin': {
        const user = await findUserByTelegramId(deps.db, telegramId);
        return user?.role === 'admin' && user.status === 'active'
          ? { kind: 'pass' }
          : { kind: 'deny', reason: 'ADMIN_REQUIRED', spec, user };
      }
      case 'chat_admin': {
        const chat = ctx.chat;
        const inGroup = chat?.type === 'group' || chat?.type === 'supergroup';
        return inGroup && (await isChatAdmin(ctx, chat.id, telegramId))
          ? { kind: 'pass' }
          : { kind: 'deny', reason: 'CHAT_ADMIN_REQUIRED', spec, user: undefined };
      }
    }
  };

  /** A command sent in a chat it does not work in: a hint, or silence for admin commands. */
  const wrongChat = async (ctx: Context, spec: CommandSpec, telegramId: number): Promise<Verdict> => {
    const chat = ctx.chat;
    if (!chat) return { kind: 'stop' };
    if (chat.type === 'private') {
      await ctx.reply(ctx.t('commands.group_only'));
      return { kind: 'stop' };
    }
    if (spec.permission === 'admin' || spec.permission === 'chat_admin') {
      // Nothing in the group hints that admin commands exist; someone who may not use it is still recorded.
      const verdict = await check(ctx, spec, telegramId);
      return verdict.kind === 'deny' ? verdict : { kind: 'stop' };
    }
    if (await firstInWindow(`cmd-hint:${chat.id}:${spec.command}`)) {
      await ctx.reply(ctx.t('commands.private_only'), {
        ...(ctx.message
          ? { reply_parameters: { message_id: ctx.message.message_id, allow_sending_without_reply: true } }
          : {}),
        reply_markup: {
          inline_keyboard: [
            [
              {
                text: ctx.t('commands.private_only_button'),
                url: `https://t.me/${ctx.me.username}?start=${spec.command}`,
              },
            ],
          ],
        },
      });
    }
    return { kind: 'stop' };
  };

  const recordDenial = async (verdict: Extract<Verdict, { kind: 'deny' }>, telegramId: number): Promise<void> => {
    if (!deps.audit) return;
    if (!(await firstInWindow(`cmd-denied:${telegramId}:${verdict.spec.command}`))) return;
    const user = verdict.user === undefined ? await findUserByTelegramId(deps.db, telegramId) : verdict.user;
    await deps.audit.record({
      actor: user ? { type: 'user', id: user.id } : { type: 'anonymous' },
      ...(user ? { subjectUserId: user.id } : {}),
      action: 'security.bot_command_denied',
      target: { type: 'bot_command', id: verdict.spec.command },
      result: 'denied',
      reasonCode: verdict.reason,
      source: 'bot',
    });
  };

  return async (ctx, next) => {
    const message = ctx.message;
    const telegramId = ctx.from?.id;
    if (!message || telegramId === undefined) return next();
    const parsed = parseCommand(message, ctx.me.username);
    if (!parsed?.forUs) return next();
    const spec = commandSpec(parsed.name);
    if (!spec) return next();

    let verdict: Verdict;
    try {
      verdict = worksIn(spec, message.chat.type)
        ? await check(ctx, spec, telegramId)
        : await wrongChat(ctx, spec, telegramId);
    } catch (error) {
      // Fail closed: the command does not run when its permission could not be checked.
      log.warn(
        { command: spec.command, err: error instanceof Error ? error.message : String(error) },
        'Command permission check failed',
      );
      if (ctx.chat?.type === 'private') await ctx.reply(ctx.t('errors.unavailable')).catch(() => undefined);
      return;
    }
    if (verdict.kind === 'pass') return next();
    if (verdict.kind === 'deny') {
      try {
        await recordDenial(verdict, telegramId);
      } catch (error) {
        // The audit trail failing must not change the answer (that would tell the command exists).
        log.error(
          { command: spec.command, err: error instanceof Error ? error.message : String(error) },
          'Could not record a denied command',
        );
      }
      await replyUnknown(ctx);
    }
  };
}
