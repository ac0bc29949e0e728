/** Signed Telegram Mini App initData, made the way Telegram makes it (HMAC-SHA256 with the bot token). */
import { sign } from '@telegram-apps/init-data-node';
import { TEST_BOT_TOKEN } from './create-test-bot.ts';

export interface InitDataUser {
  id: number;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

export function signedInitData(
  options: {
    user?: InitDataUser;
    authDate?: Date;
    botToken?: string;
    queryId?: string;
    extra?: Record<string, string>;
  } = {},
): string {
  const user = options.user ?? { id: 424242, first_name: 'Ada', username: 'ada', language_code: 'en' };
  return sign(
    {
      user,
      query_id: options.queryId ?? 'AAHdF6IQAAAAAN0XohDhrOrc',
      ...options.extra,
    } as unknown as Parameters<typeof sign>[0],
    options.botToken ?? TEST_BOT_TOKEN,
    options.authDate ?? new Date(),
  );
}
