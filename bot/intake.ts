/**
 * Update intake, before anything else handles an update:
 * - updates sent by bots are ignored (a bot cannot be a user of this product, and bots talking to bots loop);
 * - each update is handled once: its `update_id` is claimed in Redis (SET NX with a day's expiry), so Telegram's
 *   webhook retries, a replayed delivery or two bot processes never act twice on it;
 * - messages older than `maxAgeSeconds` (queued while the bot was down) are dropped without acting on them, so
 *   a burst of hour-old commands does not fire at once after downtime. Button presses are judged by when they
 *   arrive, not by the age of the message carrying the buttons.
 * When Redis cannot be reached the update fails before any feature sees it: a webhook delivery gets a 5xx, so
 * Telegram delivers it again later; in polling mode it is logged. An update is never handled unclaimed.
 */
import type { Middleware } from 'grammy';
import type { Redis } from 'ioredis';
import type { Logger } from '#shared/logger.ts';
import type { Context } from './context.ts';

export interface IntakeOptions {
  redis: Redis;
  /** The deployment's Redis prefix. */
  redisPrefix: string;
  /** The bot's id: update ids are per bot. */
  botId: () => number;
  /** Messages older than this are dropped. */
  maxAgeSeconds: number;
  logger: Logger;
  now?: () => number;
}

/** Long enough to outlive Telegram's retries (it gives up on an update after about a day). */
const CLAIM_SECONDS = 24 * 60 * 60;

export type IntakeVerdict = 'handle' | 'from_bot' | 'duplicate' | 'stale';

/** The sending time of a message-like update, in Unix seconds, or undefined for other kinds. */
function sentAt(ctx: Context): number | undefined {
  const message = ctx.update.message ?? ctx.update.edited_message ?? ctx.update.channel_post;
  return message?.date;
}

export function intake(options: IntakeOptions): Middleware<Context> {
  const now = options.now ?? Date.now;
  const log = options.logger.child({ component: 'bot-intake' });
  return async (ctx, next) => {
    let verdict: IntakeVerdict = 'handle';
    if (ctx.from?.is_bot === true) verdict = 'from_bot';
    else {
      const key = `${options.redisPrefix}:tg-update:${options.botId()}:${ctx.update.update_id}`;
      const claimed = await options.redis.set(key, '1', 'EX', CLAIM_SECONDS, 'NX');
      if (claimed !== 'OK') verdict = 'duplicate';
      else {
        const sent = sentAt(ctx);
        if (sent !== undefined && now() / 1000 - sent > options.maxAgeSeconds) verdict = 'stale';
      }
    }
    if (verdict !== 'handle') {
      log.info({ updateId: ctx.update.update_id, verdict }, 'Update not handled');
      return;
    }
    await next();
  };
}
