/** Start-up retries must be bounded: an unreachable service ends in a clear error, not a hang. */
import { describe, expect, it } from 'vitest';
import { RetryTimeoutError, retryWithBackoff } from '#shared/resilience/retry.ts';

describe('retryWithBackoff', () => {
  it('returns as soon as the operation succeeds', async () => {
    let calls = 0;
    const delays: number[] = [];
    const result = await retryWithBackoff(
      async () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
        return 'up';
      },
      { timeoutMs: 5_000, initialDelayMs: 10, onRetry: (_attempt, _error, delay) => delays.push(delay) },
    );
    expect(result).toBe('up');
    expect(calls).toBe(3);
    expect(delays).toEqual([10, 20]); // exponential
  });

  it('gives up after the time budget with the last error as cause', async () => {
    const started = Date.now();
    const error = await retryWithBackoff(
      async () => {
        throw new Error('ECONNREFUSED');
      },
      { timeoutMs: 200, initialDelayMs: 20, maxDelayMs: 50 },
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RetryTimeoutError);
    expect(((error as RetryTimeoutError).cause as Error).message).toBe('ECONNREFUSED');
    expect((error as RetryTimeoutError).attempts).toBeGreaterThan(2);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
