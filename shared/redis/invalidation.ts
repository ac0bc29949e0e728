/**
 * A per-process cache's invalidation channel: a dedicated Redis connection subscribed to one channel. While the
 * subscription is not live (connecting, reconnecting, closed) a cache must answer nothing from memory, because
 * messages published meanwhile are lost; `onLost` tells it to forget everything, `onLive` to drop what is in
 * flight, and `isLive()` says when it may remember again. Used by the session cache (shared/tokens/sessions.ts)
 * and the bot's conversation state store.
 */
import type { Redis } from 'ioredis';

export interface InvalidationSubscription {
  /** True while subscribed: only then may the cache remember or answer from memory. */
  isLive(): boolean;
  /** Ends the subscription (the cache then remembers nothing). */
  close(): void;
}

export function subscribeInvalidations(
  connection: Redis,
  channel: string,
  handlers: {
    onMessage: (message: string) => void;
    onLost: () => void;
    /**
     * Called when the subscription becomes live again: a read that started before then may hold a value whose
     * invalidation was published while nobody listened, so the cache must not keep what is in flight.
     */
    onLive?: () => void;
  },
): InvalidationSubscription {
  let live = false;
  const lost = () => {
    live = false;
    handlers.onLost();
  };
  connection.on('message', (from: string, message: string) => {
    if (from === channel) handlers.onMessage(message);
  });
  connection.on('close', lost);
  connection.on('reconnecting', lost);
  const subscribe = () => {
    connection.subscribe(channel).then(
      () => {
        live = connection.status === 'ready';
        if (live) handlers.onLive?.();
      },
      () => lost(),
    );
  };
  connection.on('ready', subscribe);
  if (connection.status === 'ready') subscribe();
  else if (connection.status === 'wait') connection.connect().catch(() => lost());
  return {
    isLive: () => live,
    close() {
      lost();
      connection.disconnect();
    },
  };
}
