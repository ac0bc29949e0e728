/**
 * Enforces intrusion-detection decisions on every update: a banned or throttled Telegram account (or chat)
 * gets one short reply per decision, then silence. The check is a lookup in the process's decision cache
 * (kept current over Redis pub/sub): no Redis round trip per update. The middleware also feeds the bot
 * update-flood scenario, but only for updates beyond a local burst allowance, so ordinary use costs nothing.
 */
import type { MiddlewareFn } from 'grammy';
import type { Redis } from 'ioredis';
import type { Defense } from '#shared/defense/index.ts';
import type { DecisionTarget } from '#shared/defense/targets.ts';
import type { Metrics } from '#shared/metrics/index.ts';
import type { Context } from '../context.ts';

/** Updates a person may send in one local window before the flood scenario hears about each further one. */
export const BOT_BURST_UPDATES = 8;
export const BOT_BURST_WINDOW_MS = 5_000;
/** Most people tracked by the local burst counter; beyond that it restarts (bounded memory under a flood). */
const BURST_TRACKED_LIMIT = 50_000;

export interface DecisionGuardDeps {
  defense: Pick<Defense, 'check' | 'observe'>;
  /** Remembers "already told" across processes (one reply per decision and person). */
  redis: Redis;
  redisPrefix: string;
  metrics?: Metrics | undefined;
  now?: () => number;
}

/** Callback data of the review button: the one update a blocked person can still send. */
export const REVIEW_CALLBACK = /^dd:r:[0-9a-f-]{36}$/;

function minute(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function decisionGuard(deps: DecisionGuardDeps): MiddlewareFn<Context> {
  const now = deps.now ?? Date.now;
  const bursts = new Map<number, { start: number; count: number }>();

  /** Counts locally; returns true when this update is beyond the burst allowance. */
  const beyondBurst = (telegramId: number): boolean => {
    const at = now();
    const entry = bursts.get(telegramId);
    if (!entry || at - entry.start > BOT_BURST_WINDOW_MS) {
      if (bursts.size >= BURST_TRACKED_LIMIT) bursts.clear();
      bursts.set(telegramId, { start: at, count: 1 });
      return false;
    }
    entry.count += 1;
    return entry.count > BOT_BURST_UPDATES;
  };

  return async (ctx, next) => {
    const from = ctx.from;
    const targets: DecisionTarget[] = [];
    if (from) targets.push({ scope: 'telegram_user', value: String(from.id) });
    if (ctx.chat && ctx.chat.type !== 'private') targets.push({ scope: 'chat', value: String(ctx.chat.id) });
    const decision = targets.length > 0 ? deps.defense.check(targets) : undefined;
    // A factor lockout only stops second-factor checks (the MFA feature asks defense itself).
    if (decision && decision.kind !== 'factor_lockout') {
      // The review request stays open to the person the decision is about (GDPR Art. 22(3)).
      if (ctx.callbackQuery?.data && REVIEW_CALLBACK.test(ctx.callbackQuery.data)) return next();
      deps.metrics?.decisionEnforcements.inc({ edge: 'bot', kind: decision.kind });
      const who = from?.id ?? ctx.chat?.id ?? 0;
      // One reply per decision and person (across processes), then silence: replying to a flood feeds it.
      const first = await deps.redis.set(
        `${deps.redisPrefix}:defense:told:${decision.id}:${who}`,
        '1',
        'PX',
        Math.max(1_000, decision.expiresAtMs - now()),
        'NX',
      );
      if (first === 'OK' && ctx.chat?.type === 'private') {
        const until = minute(decision.expiresAtMs);
        const text = ctx.t(decision.kind === 'ban' ? 'defense.blocked_ban' : 'defense.blocked_throttle', { until });
        await ctx.reply(
          text,
          decision.kind === 'ban'
            ? {
                reply_markup: {
                  inline_keyboard: [[{ text: ctx.t('defense.review_button'), callback_data: `dd:r:${decision.id}` }]],
                },
              }
            : {},
        );
      } else if (first === 'OK' && ctx.callbackQuery) {
        await ctx.answerCallbackQuery();
      }
      return;
    }
    if (from && beyondBurst(from.id)) {
      await deps.defense.observe({
        action: 'bot.update_flood',
        source: 'bot',
        result: 'denied',
        actor: { type: 'anonymous' },
        telegramId: from.id,
        ...(ctx.chat ? { chatId: ctx.chat.id } : {}),
      });
    }
    await next();
  };
}
