/**
 * Starting and stopping the bot role: long polling through @grammyjs/runner (concurrent, sequentialised per
 * chat), or registering the webhook that the API role serves at POST /telegram/webhook.
 */
import { type RunnerHandle, run } from '@grammyjs/runner';
import { type Bot, GrammyError } from 'grammy';
import type { Logger } from '#shared/logger.ts';
import { retryWithBackoff } from '#shared/resilience/retry.ts';
import type { Context } from './context.ts';
import { setBotCommands } from './create-bot.ts';
import { LOCALES } from './i18n/index.ts';

/** Update types the bot handles; anything else is never fetched. */
export const ALLOWED_UPDATES = [
  'message',
  'edited_message',
  'callback_query',
  'my_chat_member',
  'chat_member',
] as const;
export const WEBHOOK_PATH = '/telegram/webhook';

export interface StartBotOptions {
  mode: 'polling' | 'webhook';
  publicUrl: string | undefined;
  webhookSecret: string;
  logger: Logger;
  startupTimeoutMs: number;
}

export interface RunningBot {
  stop(): Promise<void>;
}

/**
 * Checks the token with getMe (retrying network failures for a bounded time; a rejected token fails at once),
 * sets the command menu, then polls or registers the webhook.
 * @throws Error telling the operator what to do when Telegram rejects the token.
 */
export async function startBot(bot: Bot<Context>, options: StartBotOptions): Promise<RunningBot> {
  const log = options.logger.child({ component: 'bot' });
  await retryWithBackoff(
    async () => {
      try {
        await bot.init();
      } catch (error) {
        if (error instanceof GrammyError && (error.error_code === 401 || error.error_code === 404)) {
          throw Object.assign(
            new Error('Telegram rejected BOT_TOKEN: check it with @BotFather (/mybots → API Token).'),
            {
              fatal: true,
            },
          );
        }
        throw error;
      }
    },
    {
      timeoutMs: options.startupTimeoutMs,
      onRetry: (attempt, error) => {
        if ((error as { fatal?: boolean }).fatal) throw error;
        log.warn({ attempt }, `Telegram is not reachable yet (${String((error as Error).message)}); retrying`);
      },
    },
  );
  try {
    await setBotCommands(bot, Object.keys(LOCALES));
  } catch (error) {
    // The command menu is a convenience: a refused or failed setMyCommands must not stop the bot.
    log.warn(
      { err: error instanceof Error ? error.message : String(error) },
      'Could not set the command menu; continuing',
    );
  }

  if (options.mode === 'webhook') {
    const url = `${options.publicUrl}${WEBHOOK_PATH}`;
    await bot.api.setWebhook(url, {
      secret_token: options.webhookSecret,
      allowed_updates: [...ALLOWED_UPDATES],
    });
    log.info(`Bot @${bot.botInfo.username} receives updates by webhook at ${url}`);
    return { stop: async () => {} };
  }

  // A webhook left from an earlier deployment would make getUpdates fail.
  await bot.api.deleteWebhook();
  const handle: RunnerHandle = run(bot, {
    runner: { fetch: { allowed_updates: [...ALLOWED_UPDATES] } },
  });
  log.info(`Bot @${bot.botInfo.username} is running (long polling)`);
  return {
    async stop() {
      // Stops fetching and resolves once every update in flight has been handled.
      if (handle.isRunning()) await handle.stop();
    },
  };
}
