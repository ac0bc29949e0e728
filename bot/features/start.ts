/** /start: registers the user (Telegram id and language only) and shows what the bot does. */
import { Composer, InlineKeyboard } from 'grammy';
import type { Db } from '#shared/db/index.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import type { Context } from '../context.ts';

export interface StartFeatureDeps {
  db: Db;
  adminTelegramIds: readonly number[];
  /** Public https URL of the deployment; the "Open app" button needs it (Telegram opens only https Mini Apps). */
  publicUrl: string | undefined;
}

export function startFeature(deps: StartFeatureDeps) {
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');
  feature.command('start', async (ctx) => {
    const { created } = await upsertTelegramUser(deps.db, {
      telegramId: ctx.from.id,
      languageCode: ctx.from.language_code,
      adminTelegramIds: deps.adminTelegramIds,
    });
    const keyboard = new InlineKeyboard();
    if (deps.publicUrl?.startsWith('https://'))
      keyboard.webApp(ctx.t('start.open_app'), `${deps.publicUrl}/app/`).row();
    keyboard.text(ctx.t('start.help_button'), 'help');
    await ctx.reply(ctx.t(created ? 'start.welcome' : 'start.welcome_back', { name: ctx.from.first_name }), {
      reply_markup: keyboard,
    });
  });
  return composer;
}
