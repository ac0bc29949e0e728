/**
 * Outgoing Bot API calls, for the bot and for every other sender (the notify worker):
 * - 429 `retry_after` is honoured (@grammyjs/auto-retry), bounded: a few retries, and a wait longer than
 *   `maxRetryDelaySeconds` fails the call instead (a queued job then retries on its own schedule);
 * - a throttler (@grammyjs/transformer-throttler, Bottleneck) keeps bulk sends under Telegram's limits: about
 *   30 messages/s in all, 1/s per private chat, 20/min per group. The limits are PER PROCESS (Bottleneck's
 *   in-memory store): run N sending processes with `globalPerSecond` divided by N. Bottleneck's Redis store
 *   would share them, at several Redis round trips per message; auto-retry covers the rare overshoot instead;
 * - Telegram's 403 "bot was blocked by the user" / "user is deactivated" marks the person as unreachable
 *   (`users.bot_blocked_at`): notices skip them until they write to the bot or unblock it (the
 *   `reachability` middleware below clears the mark);
 * - the answer to an update delivered by webhook may travel in the webhook's HTTP response instead of a call of
 *   its own (grammY's webhook reply), for the commands whose reply is all they do (`webhookReplies`): no request
 *   to Telegram at all. Such a reply's result is `true` rather than the sent message, and a failure (429, 403)
 *   is never seen, so it is used only where neither matters.
 *
 * Conversations v2 build their own Api for each replay without bot.api's transformers: `installConversations`
 * adds `conversationTransformers()` there (no throttler: replies in a conversation answer the person's own
 * messages one at a time, and replayed calls never reach Telegram).
 */
import { autoRetry } from '@grammyjs/auto-retry';
import { apiThrottler } from '@grammyjs/transformer-throttler';
import type { Middleware, RawApi, Transformer } from 'grammy';
import type { Db } from '#shared/db/index.ts';
import { markBotBlocked, markBotReachable, markBotsReachable, REACHABLE_BATCH_MAX } from '#shared/identity/users.ts';
import type { Logger } from '#shared/logger.ts';
import type { Context } from './context.ts';

export interface OutgoingOptions {
  /** false: no throttler (tests driving the bot faster than Telegram would allow). Default true. */
  throttle?: boolean;
  /** Retries of one call after 429 or a 5xx. Default 3. */
  maxRetries?: number;
  /** A longer `retry_after` fails the call rather than waiting. Default 30. */
  maxRetryDelaySeconds?: number;
  /** Messages per second in all (Telegram: about 30). Default 30. */
  globalPerSecond?: number;
  /** Sustained pace to one private chat: one message per this many ms (Telegram: about 1/s). Default 1000. */
  privateChatIntervalMs?: number;
  /**
   * Messages one private chat may get at once before the pace applies (Telegram allows short bursts), so a
   * two-message answer is not held back a second. Default 3.
   */
  privateChatBurst?: number;
  /** Messages per minute to one group (Telegram: 20). Default 20. */
  groupPerMinute?: number;
  /** Least time between two messages to one group, ms. Default 1000. */
  groupIntervalMs?: number;
}

/** Telegram's descriptions of a 403 that means "this person cannot be messaged". */
const UNREACHABLE = /bot was blocked by the user|user is deactivated/i;

/** A payload carrying this key answers in the webhook response, when the update came by webhook. */
const WEBHOOK_REPLY: unique symbol = Symbol('webhook-reply');
type Marked = { [WEBHOOK_REPLY]?: true };

const isMarked = (payload: unknown): boolean =>
  typeof payload === 'object' && payload !== null && (payload as Marked)[WEBHOOK_REPLY] === true;

/**
 * Set only while the innermost transformer hands a marked payload to grammY's client: the client asks
 * `canUseWebhookReply` synchronously before its first await, so the flag cannot leak to another call.
 */
let answeringInResponse = false;

/** grammY client option: answer in the webhook response only the call marked for it. */
export function canUseWebhookReply(method: string): boolean {
  return answeringInResponse && method === 'sendMessage';
}

/** Innermost transformer: lets the marked call use the webhook response (see canUseWebhookReply). */
const webhookReplyGate: Transformer = (prev, method, payload, signal) => {
  answeringInResponse = isMarked(payload);
  try {
    return prev(method, payload, signal);
  } finally {
    answeringInResponse = false;
  }
};

/** Updates that arrived by webhook (the route adds them): only those have a response to answer in. */
const webhookUpdates = new WeakSet<object>();

/** Called by the webhook route with the parsed update, before handing it to the bot. */
export function markWebhookDelivery(update: object): void {
  webhookUpdates.add(update);
}

/** People a process heard from recently, trusted to carry no "blocked" mark (see `reachability`). */
export type ReachableCache = Map<number, number>;

/** Records a 403 "blocked / deactivated" for a private chat (the chat id is the person's Telegram id). */
function blockedTracker(db: Db, logger: Logger | undefined, heardFrom?: ReachableCache): Transformer {
  return async (prev, method, payload, signal) => {
    const result = await prev(method, payload, signal);
    if (!result.ok && result.error_code === 403 && UNREACHABLE.test(result.description)) {
      const chatId = Number((payload as { chat_id?: unknown } | undefined)?.chat_id);
      if (Number.isSafeInteger(chatId) && chatId > 0) {
        heardFrom?.delete(chatId);
        await markBotBlocked(db, chatId).catch((error: unknown) => {
          logger?.warn({ err: String(error), method }, 'Could not record an unreachable person');
        });
      }
    }
    return result;
  };
}

function throttler(options: OutgoingOptions): Transformer {
  const perSecond = options.globalPerSecond ?? 30;
  const groupPerMinute = options.groupPerMinute ?? 20;
  const privateBurst = options.privateChatBurst ?? 3;
  const throttled = apiThrottler({
    global: { reservoir: perSecond, reservoirRefreshAmount: perSecond, reservoirRefreshInterval: 1000 },
    group: {
      maxConcurrent: 1,
      minTime: options.groupIntervalMs ?? 1000,
      reservoir: groupPerMinute,
      reservoirRefreshAmount: groupPerMinute,
      reservoirRefreshInterval: 60_000,
    },
    // A token bucket per chat: `burst` at once, then one per interval (in order: one call in flight per chat).
    out: {
      maxConcurrent: 1,
      reservoir: privateBurst,
      reservoirIncreaseAmount: 1,
      reservoirIncreaseInterval: options.privateChatIntervalMs ?? 1000,
      reservoirIncreaseMaximum: privateBurst,
    },
  }) as unknown as Transformer;
  // A webhook reply makes no request of its own: nothing to space out.
  return (prev, method, payload, signal) =>
    isMarked(payload) ? prev(method, payload, signal) : throttled(prev, method, payload, signal);
}

function retrier(options: OutgoingOptions): Transformer {
  return autoRetry({
    maxRetryAttempts: options.maxRetries ?? 3,
    maxDelaySeconds: options.maxRetryDelaySeconds ?? 30,
    // A network failure is thrown at once (the bot says "unavailable", a job is retried by its queue): the
    // plugin would otherwise retry it without bound.
    rethrowHttpErrors: true,
  }) as unknown as Transformer;
}

/**
 * The transformers every sender installs with `api.config.use(...outgoingTransformers(...))`, innermost
 * first: webhook-reply gate, 403 tracking, throttler, auto-retry (a retried call queues in the throttler again).
 */
export function outgoingTransformers(
  deps: { db: Db; logger?: Logger | undefined; reachable?: ReachableCache },
  options: OutgoingOptions = {},
): Transformer<RawApi>[] {
  return [
    webhookReplyGate,
    blockedTracker(deps.db, deps.logger, deps.reachable),
    ...(options.throttle === false ? [] : [throttler(options)]),
    retrier(options),
  ];
}

/** Inside conversations: 403 tracking and auto-retry (see the module comment). */
export function conversationTransformers(
  deps: { db: Db; logger?: Logger | undefined; reachable?: ReachableCache },
  options: OutgoingOptions = {},
): Transformer<RawApi>[] {
  return [blockedTracker(deps.db, deps.logger, deps.reachable), retrier(options)];
}

/** The bot command an update's message starts with, lower-cased, if any. */
function commandOf(ctx: Context): string | undefined {
  const text = ctx.message?.text;
  if (!text?.startsWith('/')) return undefined;
  return text.slice(1).split(/[\s@]/)[0]?.toLowerCase();
}

/**
 * For updates delivered by webhook with one of `commands` in a private chat: the first message sent back to
 * that chat travels in the webhook response. Only for commands whose handlers never read the sent message.
 */
export function webhookReplies(commands: readonly string[]): Middleware<Context> {
  const eligible = new Set(commands);
  return async (ctx, next) => {
    if (ctx.chat?.type === 'private' && webhookUpdates.has(ctx.update)) {
      const command = commandOf(ctx);
      if (command !== undefined && eligible.has(command)) {
        const chatId = ctx.chat.id;
        let used = false;
        ctx.api.config.use((prev, method, payload, signal) => {
          if (!used && method === 'sendMessage' && (payload as { chat_id?: unknown }).chat_id === chatId) {
            used = true;
            (payload as Marked)[WEBHOOK_REPLY] = true;
          }
          return prev(method, payload, signal);
        });
      }
    }
    await next();
  };
}

/** How long a process trusts that a person it heard from has no "blocked" mark (bounded, per process). */
const REACHABLE_TTL_MS = 10 * 60_000;
const REACHABLE_TRACKED_LIMIT = 100_000;

/** How long the people heard from wait before their marks are cleared, together (one statement per batch). */
export const REACHABLE_FLUSH_MS = 1_000;

/**
 * Keeps `users.bot_blocked_at` current from incoming updates: `my_chat_member` in a private chat with status
 * `kicked` (the person blocked the bot) marks it, `member` (unblocked, or started again) clears it, and any
 * message or button from the person in their private chat with the bot clears it. That last clearing is off the
 * update's path: the people heard from are cleared together every REACHABLE_FLUSH_MS, in one indexed UPDATE that
 * writes only rows carrying a mark older than the message (so a block recorded after it stays). It runs at most
 * once per person per REACHABLE_TTL_MS in a process (a mark set in the meantime by another process is cleared by
 * the unblock's `my_chat_member`, which always runs at once). A person marked here in the meantime (403, kicked)
 * leaves the batch.
 */
export function reachability(deps: {
  db: Db;
  logger?: Logger | undefined;
  /** Shared with the 403 tracker, which forgets a person it marks. */
  reachable: ReachableCache;
  now?: () => number;
}): Middleware<Context> {
  const now = deps.now ?? Date.now;
  const heardFrom = deps.reachable;
  /** Person → when they were heard from, waiting for the next batch. */
  const pending = new Map<number, number>();
  let timer: NodeJS.Timeout | undefined;

  const flush = async () => {
    timer = undefined;
    while (pending.size > 0) {
      const batch: { telegramId: number; at: Date }[] = [];
      for (const [person, at] of pending) {
        pending.delete(person);
        // Marked since (403 or kicked: the entry is gone), or forgotten: nothing to clear for them.
        if (heardFrom.get(person) === at) batch.push({ telegramId: person, at: new Date(at) });
        if (batch.length === REACHABLE_BATCH_MAX) break;
      }
      if (batch.length === 0) continue;
      try {
        await markBotsReachable(deps.db, batch);
      } catch (error) {
        // Heard from again later, they are tried again.
        for (const { telegramId } of batch) heardFrom.delete(telegramId);
        deps.logger?.warn({ err: String(error), people: batch.length }, 'Could not clear unreachable marks');
      }
    }
  };

  return async (ctx, next) => {
    const member = ctx.update.my_chat_member;
    if (member && member.chat.type === 'private') {
      const person = member.chat.id;
      const status = member.new_chat_member.status;
      const failed = (error: unknown) => {
        deps.logger?.warn({ err: String(error), status }, 'Could not record a chat member change');
        return false;
      };
      if (status === 'kicked') {
        heardFrom.delete(person);
        await markBotBlocked(deps.db, person).catch(failed);
      } else if (status === 'member') {
        if (await markBotReachable(deps.db, person).catch(failed)) heardFrom.set(person, now());
      }
    } else if (ctx.chat?.type === 'private' && (ctx.message || ctx.callbackQuery) && ctx.from && !ctx.from.is_bot) {
      // Only their private chat proves it: someone who blocked the bot can still write in a group it is in.
      const person = ctx.from.id;
      const at = now();
      const last = heardFrom.get(person);
      if (last === undefined || at - last > REACHABLE_TTL_MS) {
        if (heardFrom.size >= REACHABLE_TRACKED_LIMIT) heardFrom.clear();
        heardFrom.set(person, at);
        if (pending.size < REACHABLE_TRACKED_LIMIT) pending.set(person, at);
        if (!timer) {
          timer = setTimeout(() => void flush(), REACHABLE_FLUSH_MS);
          timer.unref();
        }
      }
    }
    await next();
  };
}
