/**
 * The last feature: a polite answer to anything no other feature took, so users are never left hanging.
 * The command guard (bot/middleware/command-guard.ts) answers a command someone may not use with exactly this
 * reply, so an unauthorized command cannot be told from an unknown one.
 */
import { Composer } from 'grammy';
import type { Context } from '../context.ts';

/** The answer to an unknown message or command: a reply in private chats, silence in groups. */
export async function replyUnknown(ctx: Context): Promise<void> {
  // Only private chats get a reply: in groups the bot stays quiet instead of answering every message.
  if (ctx.chat?.type === 'private') await ctx.reply(ctx.t('unhandled.message'));
}

export function unhandledFeature() {
  const composer = new Composer<Context>();
  composer.on('callback_query', (ctx) => ctx.answerCallbackQuery({ text: ctx.t('unhandled.callback') }));
  composer.chatType('private').on('message', (ctx) => replyUnknown(ctx));
  return composer;
}
