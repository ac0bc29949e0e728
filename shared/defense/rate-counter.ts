/**
 * Fixed-window request counters in Redis, shared by every process, that cost no Redis round trip per request
 * while a key is far from its limit.
 *
 * Each process counts locally and adds its counts to Redis in one pipelined batch every `flushMs`; the reply
 * brings back the shared total, so every process sees the others' traffic within one flush interval. A key
 * is counted in Redis synchronously (exact) when:
 * - it is the first hit of a window in this process (to learn the shared count and the window's end);
 * - it is within `headroom` of its limit (so the limit itself is exact in a single process, and exceeded by at
 *   most one flush interval of other processes' traffic in a fleet);
 * - its limit is small (`exactBelow`): small limits are security limits (sign-in, OAuth callbacks), where
 *   every attempt must be counted before it is answered;
 * - the caller asks for it.
 * A failed batch puts its counts back, so a Redis blip loses no counts; the caller decides whether a failed
 * exact count fails open or closed.
 */
import type { Redis } from 'ioredis';

export interface CounterResult {
  /** Requests counted in this window, this one included. */
  current: number;
  /** Milliseconds until the window ends. */
  ttl: number;
}

export interface RateCounterOptions {
  redis: Redis;
  /** Key prefix (the deployment's Redis prefix and a namespace). */
  prefix: string;
  /** How often local counts are added to Redis. Default 50 ms. */
  flushMs?: number;
  /** Limits below this are always counted exactly. Default 50. */
  exactBelow?: number;
  /** Count exactly once fewer than this fraction of the limit remains. Default 0.1. */
  headroom?: number;
  /** Local keys kept at most; beyond it, new keys are counted exactly. Default 100,000. */
  maxKeys?: number;
  now?: () => number;
  onFlushError?: (error: unknown) => void;
}

export interface RateCounter {
  /** Counts one hit on `key`, whose window is `windowMs` long and whose limit is `max`. */
  hit(key: string, windowMs: number, max: number, exact?: boolean): CounterResult | Promise<CounterResult>;
  /**
   * Counts one hit on `key` only when it can be counted locally (what `hit` would do without a round trip): the
   * key's window is known here and far from `max`. Otherwise counts nothing and returns undefined.
   */
  hitLocally(key: string, max: number): CounterResult | undefined;
  /** Adds the local counts to Redis now. */
  flush(): Promise<void>;
  /** Stops the timer and flushes what is left. */
  close(): Promise<void>;
  /** Keys counted locally (for tests and metrics). */
  readonly size: number;
}

interface Entry {
  /** Shared total as Redis last reported it (our own flushed hits included). */
  remote: number;
  /** Hits counted here and not yet sent. */
  pending: number;
  /** Hits sent in a batch whose reply has not come back. */
  inFlight: number;
  /** When the window ends (local clock, from Redis's PTTL). */
  windowEnd: number;
  windowMs: number;
}

/** INCRBY with the window's expiry set on the first count; returns the total and the remaining TTL. */
const ADD_SCRIPT = `
local current = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {current, ttl}
`;

type AddCommand = (key: string, delta: number, windowMs: number) => Promise<[number, number]>;

export function createRateCounter(options: RateCounterOptions): RateCounter {
  const { redis, prefix } = options;
  const flushMs = options.flushMs ?? 50;
  const exactBelow = options.exactBelow ?? 50;
  const headroom = options.headroom ?? 0.1;
  const maxKeys = options.maxKeys ?? 100_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const dirty = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let closed = false;

  if (!(redis as unknown as { tspRateAdd?: AddCommand }).tspRateAdd) {
    redis.defineCommand('tspRateAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
  }
  const add: AddCommand = (key, delta, windowMs) =>
    (redis as unknown as { tspRateAdd: AddCommand }).tspRateAdd(`${prefix}${key}`, delta, windowMs);

  function schedule(): void {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, flushMs);
    timer.unref();
  }

  async function exact(key: string, windowMs: number, entry: Entry | undefined): Promise<CounterResult> {
    // Sends this hit together with any local hits not yet sent, so the total Redis returns is complete.
    const carried = entry ? entry.pending : 0;
    if (entry) {
      entry.pending = 0;
      entry.inFlight += carried;
    }
    let reply: [number, number];
    try {
      reply = await add(key, carried + 1, windowMs);
    } catch (error) {
      if (entry) {
        entry.inFlight -= carried;
        entry.pending += carried;
      }
      throw error;
    }
    const [current, ttl] = reply;
    const at = now();
    const live = entries.get(key);
    if (live && live.windowEnd > at) {
      live.inFlight -= carried;
      live.remote = Math.max(live.remote, current);
      live.windowEnd = at + ttl;
    } else if (entries.size < maxKeys) {
      entries.set(key, { remote: current, pending: 0, inFlight: 0, windowEnd: at + ttl, windowMs });
    }
    return { current, ttl };
  }

  /** Counts locally when `entry` is live and far from `max`; undefined when it must go to Redis. */
  function local(key: string, entry: Entry, max: number, at: number): CounterResult | undefined {
    const estimate = entry.remote + entry.pending + entry.inFlight + 1;
    if (max - estimate < Math.ceil(max * headroom)) return undefined;
    entry.pending++;
    dirty.add(key);
    schedule();
    return { current: estimate, ttl: entry.windowEnd - at };
  }

  function hit(key: string, windowMs: number, max: number, forceExact = false): CounterResult | Promise<CounterResult> {
    const at = now();
    let entry = entries.get(key);
    if (entry && entry.windowEnd <= at) {
      // The window ended: hits still unsent belong to the old window and are dropped with it.
      entries.delete(key);
      dirty.delete(key);
      entry = undefined;
    }
    if (forceExact || max < exactBelow || !entry) return exact(key, windowMs, entry);
    return local(key, entry, max, at) ?? exact(key, windowMs, entry);
  }

  function hitLocally(key: string, max: number): CounterResult | undefined {
    if (max < exactBelow) return undefined;
    const at = now();
    const entry = entries.get(key);
    if (!entry || entry.windowEnd <= at) return undefined;
    return local(key, entry, max, at);
  }

  async function sendBatch(): Promise<void> {
    if (dirty.size === 0) return;
    const keys = [...dirty];
    dirty.clear();
    const batch: { key: string; entry: Entry; delta: number }[] = [];
    for (const key of keys) {
      const entry = entries.get(key);
      if (!entry || entry.pending === 0) continue;
      batch.push({ key, entry, delta: entry.pending });
      entry.inFlight += entry.pending;
      entry.pending = 0;
    }
    if (batch.length === 0) return;
    const pipeline = redis.pipeline();
    for (const { key, entry, delta } of batch) {
      (pipeline as unknown as { tspRateAdd: (k: string, d: number, w: number) => void }).tspRateAdd(
        `${prefix}${key}`,
        delta,
        entry.windowMs,
      );
    }
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      replies = null;
      options.onFlushError?.(error);
    }
    const at = now();
    batch.forEach(({ key, entry, delta }, index) => {
      entry.inFlight -= delta;
      const reply = replies?.[index];
      if (!reply || reply[0]) {
        // Not counted in Redis: keep the hits for the next batch (unless the window ended meanwhile).
        if (entries.get(key) === entry && entry.windowEnd > at) {
          entry.pending += delta;
          dirty.add(key);
        }
        if (reply?.[0]) options.onFlushError?.(reply[0]);
        return;
      }
      const [current, ttl] = reply[1] as [number, number];
      entry.remote = Math.max(entry.remote, current);
      entry.windowEnd = at + ttl;
    });
    if (dirty.size > 0) schedule();
  }

  function sweep(): void {
    const at = now();
    for (const [key, entry] of entries) {
      if (entry.windowEnd <= at && entry.pending === 0 && entry.inFlight === 0) entries.delete(key);
    }
  }

  async function flush(): Promise<void> {
    // One batch at a time, so replies never race each other's bookkeeping.
    while (flushing) await flushing;
    flushing = sendBatch().finally(() => {
      flushing = undefined;
    });
    await flushing;
    sweep();
  }

  return {
    hit,
    hitLocally,
    flush,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await flush().catch((error: unknown) => options.onFlushError?.(error));
    },
    get size() {
      return entries.size;
    },
  };
}
