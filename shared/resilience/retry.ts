/**
 * Retrying an operation with capped exponential backoff for a bounded time, used when a backing service
 * (PostgreSQL, Redis) is not reachable yet at start.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Give up after this many milliseconds in total. */
  timeoutMs: number;
  /** First delay; doubled after each failure up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Called after each failed attempt (for one log line per attempt). */
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void;
  signal?: AbortSignal;
}

/** Thrown when {@link retryWithBackoff} runs out of time; `cause` is the last error. */
export class RetryTimeoutError extends Error {
  readonly attempts: number;
  constructor(message: string, attempts: number, cause: unknown) {
    super(message, { cause });
    this.name = 'RetryTimeoutError';
    this.attempts = attempts;
  }
}

/**
 * Runs `operation` until it resolves or `timeoutMs` passes.
 * @throws RetryTimeoutError with the last error as `cause`.
 */
export async function retryWithBackoff<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let delayMs = options.initialDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || options.signal?.aborted) {
        throw new RetryTimeoutError(`gave up after ${attempt} attempt(s)`, attempt, error);
      }
      const wait = Math.min(delayMs, maxDelayMs, remaining);
      options.onRetry?.(attempt, error, wait);
      await sleep(wait, undefined, options.signal ? { signal: options.signal } : undefined);
      delayMs *= 2;
    }
  }
}
