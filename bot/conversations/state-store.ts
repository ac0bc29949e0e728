/**
 * Where conversation state lives: Redis, one key per person (bot/conversations/index.ts decides the keys and
 * the JSON). The conversations plugin reads the key on every update to learn whether its sender is inside a
 * conversation; almost always they are not.
 *
 * With `cache`, each process remembers for a while that a person has NO state, so such an update costs no Redis
 * read. Only that absence is remembered, never a state. Every write or delete drops the entry here at once and
 * is published on a Redis channel every process subscribes to, so the others drop it within the pub/sub delivery
 * time. That is well before the person can answer the bot's question: the question leaves during the update
 * whose write publishes it. Like the session cache (shared/tokens/sessions.ts): while the subscription is not
 * live (connecting, reconnecting, closed) nothing is remembered, and a read that an invalidation overtook is not
 * remembered either (an epoch counter tells).
 */
import type { Redis } from 'ioredis';
import { type InvalidationSubscription, subscribeInvalidations } from '#shared/redis/invalidation.ts';

/** How long a process trusts a remembered absence (pub/sub normally drops it much sooner when it changes). */
export const CONVERSATION_ABSENCE_MAX_AGE_MS = 10_000;
/** Remembered absences per process at most (then forgotten all at once; they are cheap to learn again). */
const MAX_ENTRIES = 100_000;

export interface ConversationStateStore {
  /** The stored JSON for `key`, or null. */
  read(key: string): Promise<string | null>;
  write(key: string, json: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Ends the cache's subscription (when built with `cache`). */
  close(): Promise<void>;
}

export interface ConversationStateStoreOptions {
  redis: Redis;
  /** The deployment's Redis prefix (the invalidation channel is `${redisPrefix}:conv-invalidated`). */
  redisPrefix: string;
  /** Opens the dedicated connection that subscribes to invalidations; without it nothing is cached. */
  cache?: { createSubscriber: () => Redis };
}

export function createConversationStateStore(options: ConversationStateStoreOptions): ConversationStateStore {
  const { redis } = options;
  const channel = `${options.redisPrefix}:conv-invalidated`;
  /** Key → when its absence was read (performance.now()). */
  const absent = new Map<string, number>();
  let epoch = 0;
  let subscription: InvalidationSubscription | undefined;

  // Messages sent while the connection is down are lost: remember nothing until subscribed again.
  const forgetAll = () => {
    epoch++;
    absent.clear();
  };
  const forget = (key: string) => {
    epoch++;
    absent.delete(key);
  };
  if (options.cache) {
    subscription = subscribeInvalidations(options.cache.createSubscriber(), channel, {
      onMessage: forget,
      onLost: forgetAll,
      onLive: forgetAll,
    });
  }
  const isLive = () => subscription?.isLive() === true;

  /**
   * Drops `key` here before and after the change, and in every other process through the channel (also from a
   * process that keeps no cache itself: the others may). The change's own error wins over the publish's.
   */
  async function changed(key: string, change: () => Promise<unknown>): Promise<void> {
    forget(key);
    let failed = false;
    let failure: unknown;
    try {
      await change();
    } catch (error) {
      failed = true;
      failure = error;
    }
    forget(key);
    try {
      await redis.publish(channel, key);
    } catch (error) {
      if (!failed) throw error;
    }
    if (failed) throw failure;
  }

  return {
    async read(key) {
      if (isLive()) {
        const at = absent.get(key);
        if (at !== undefined && performance.now() - at < CONVERSATION_ABSENCE_MAX_AGE_MS) return null;
      }
      const startedAt = epoch;
      const json = await redis.get(key);
      if (json === null && isLive() && epoch === startedAt) {
        if (absent.size >= MAX_ENTRIES) absent.clear();
        absent.set(key, performance.now());
      }
      return json;
    },
    write(key, json, ttlSeconds) {
      return changed(key, () => redis.set(key, json, 'EX', ttlSeconds));
    },
    delete(key) {
      return changed(key, () => redis.del(key));
    },
    async close() {
      subscription?.close();
      subscription = undefined;
    },
  };
}
