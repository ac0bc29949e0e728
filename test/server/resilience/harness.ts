/**
 * Shared pieces of the resilience tests: the real worker role started next to a test app (as server/start.ts
 * starts it), bounded waits, and timing a request against a limit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { controllerInfo } from '#server/services.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import type { TestApp } from '#test/helpers/build-test-app.ts';

/** Starts every worker of the product on the app's database, Redis and key prefix (no Telegram: notices drop). */
export function startTestWorkers(t: TestApp): Promise<RunningWorkers> {
  return startWorkers({
    database: t.database,
    crypto: { ring: t.ring, userKeys: t.userKeys },
    audit: { signingKey: deriveAuditSigningKey(t.secrets.masterKey) },
    telegram: undefined,
    mfa: t.services.mfa,
    privacy: {
      controller: controllerInfo(t.config),
      dataDir: t.config.dataDir,
      sessions: t.services.sessions,
      audit: t.services.audit,
      metrics: t.services.metrics,
    },
    logger: t.logger,
    connection: () => t.redis.createBullConnection(),
    redisPrefix: t.redisPrefix,
  });
}

/**
 * Polls `check` until it is true.
 * @returns the milliseconds it took.
 * @throws naming `what` when `timeoutMs` passes first.
 */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - started;
    await sleep(100);
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms`);
}

/** Runs `task` and returns its result with how long it took. */
export async function timed<T>(task: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await task();
  return { value, ms: performance.now() - started };
}
