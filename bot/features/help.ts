/** /help and the Help button. */
import { Composer } from 'grammy';
import type { Context } from '../context.ts';

export function helpFeature() {
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');
  feature.command('help', (ctx) => ctx.reply(ctx.t('help.text')));
  feature.callbackQuery('help', async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.reply(ctx.t('help.text'));
  });
  return composer;
}
