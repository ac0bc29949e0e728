/**
 * Per-person rate limit for the bot's private chats and button taps (@grammyjs/ratelimiter, counted in Redis so
 * every process shares the count). Group messages are not limited here: dropping them would let spam through
 * unjudged, so groups are left to the anti-spam rules (bot/features/antispam.ts), which delete and mute.
 * The first update over the limit gets one short reply; the rest are dropped silently.
 *
 * The limiter's Redis client is our shared counter (shared/defense/rate-counter.ts, as the API's limiter uses):
 * an update far from its sender's limit is counted locally and added to Redis in the next batch (every 50 ms),
 * so it costs no Redis round trip; the first update of a window and those near the limit are counted in Redis
 * before they are let through. Limits below {@link EXACT_BELOW} are always counted in Redis. In a fleet, a person
 * flooding several processes at once gets at most one batch interval of extra updates through.
 */
import { limit } from '@grammyjs/ratelimiter';
import type { MiddlewareFn } from 'grammy';
import type { Redis } from 'ioredis';
import { createRateCounter } from '#shared/defense/rate-counter.ts';
import type { Context } from '../context.ts';

/** Limits below this are counted in Redis on every update (no local counting). */
export const EXACT_BELOW = 10;

export interface RateLimitDeps {
  redis: Redis;
  redisPrefix: string;
  /** Updates allowed per person within `seconds`. */
  limit: number;
  seconds: number;
  /** How often local counts are added to Redis (the counter's default when unset). */
  flushMs?: number;
}

/** The key an update is counted under: the person in a private chat (or tapping anywhere), else none. */
export function rateLimitKey(ctx: Context): string | undefined {
  const from = ctx.from;
  if (!from) return undefined;
  if (ctx.chat?.type === 'private' || ctx.callbackQuery) return String(from.id);
  return undefined;
}

/**
 * The two commands @grammyjs/ratelimiter sends its Redis client (`incr`, then `pexpire` on a window's first hit),
 * answered by the shared counter, which keeps the window's expiry itself.
 */
function counterClient(deps: RateLimitDeps, onFlushError: (error: unknown) => void) {
  const windowMs = deps.seconds * 1000;
  const counter = createRateCounter({
    redis: deps.redis,
    prefix: `${deps.redisPrefix}:rl:`,
    exactBelow: EXACT_BELOW,
    flushMs: deps.flushMs,
    onFlushError,
  });
  return {
    incr(key: string): number | Promise<number> {
      const result = counter.hit(key, windowMs, deps.limit);
      return result instanceof Promise ? result.then((counted) => counted.current) : result.current;
    },
    async pexpire(): Promise<number> {
      return 1;
    },
  };
}

export function privateRateLimit(
  deps: RateLimitDeps & { onFlushError?: (error: unknown) => void },
): MiddlewareFn<Context> {
  return limit<Context, Redis>({
    timeFrame: deps.seconds * 1000,
    limit: deps.limit,
    // Same keys as a plain Redis client would use: `<prefix>:rl:<telegram id>`.
    storageClient: counterClient(deps, deps.onFlushError ?? (() => {})) as unknown as Redis,
    keyPrefix: '',
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
