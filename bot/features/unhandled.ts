/** The last feature: a polite answer to anything no other feature took, so users are never left hanging. */
import { Composer } from 'grammy';
import type { Context } from '../context.ts';

export function unhandledFeature() {
  const composer = new Composer<Context>();
  composer.on('callback_query', (ctx) => ctx.answerCallbackQuery({ text: ctx.t('unhandled.callback') }));
  // Only private chats get a reply: in groups the bot stays quiet instead of answering every message.
  composer.chatType('private').on('message', (ctx) => ctx.reply(ctx.t('unhandled.message')));
  return composer;
}
