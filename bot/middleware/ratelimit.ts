/**
 * Per-person rate limit for the bot's private chats and button taps (@grammyjs/ratelimiter, counted in Redis so
 * every process shares the count). Group messages are not limited here: dropping them would let spam through
 * unjudged, so groups are left to the anti-spam rules (bot/features/antispam.ts), which delete and mute.
 * The first update over the limit gets one short reply; the rest are dropped silently.
 */
import { limit } from '@grammyjs/ratelimiter';
import type { MiddlewareFn } from 'grammy';
import type { Redis } from 'ioredis';
import type { Context } from '../context.ts';

export interface RateLimitDeps {
  redis: Redis;
  redisPrefix: string;
  /** Updates allowed per person within `seconds`. */
  limit: number;
  seconds: number;
}

/** The key an update is counted under: the person in a private chat (or tapping anywhere), else none. */
export function rateLimitKey(ctx: Context): string | undefined {
  const from = ctx.from;
  if (!from) return undefined;
  if (ctx.chat?.type === 'private' || ctx.callbackQuery) return String(from.id);
  return undefined;
}

export function privateRateLimit(deps: RateLimitDeps): MiddlewareFn<Context> {
  return limit<Context, Redis>({
    timeFrame: deps.seconds * 1000,
    limit: deps.limit,
    storageClient: deps.redis,
    keyPrefix: `${deps.redisPrefix}:rl:`,
    keyGenerator: rateLimitKey,
    onLimitExceeded: async (ctx) => {
      try {
        if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: ctx.t('antispam.slow_down') });
        else await ctx.reply(ctx.t('antispam.slow_down'));
      } catch {
        // Telegram refused the reply (blocked bot): the update is dropped all the same.
      }
    },
  }) as MiddlewareFn<Context>;
}
