/**
 * Shared pieces of the resilience tests: the real worker role started next to a test app (as server/start.ts
 * starts it), bounded waits, and timing a request against a limit.
 */
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { and, eq, inArray } from 'drizzle-orm';
import { controllerInfo } from '#server/services.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { privacyRequests } from '#shared/db/schema-privacy.ts';
import type { TestApp } from '#test/helpers/build-test-app.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase, usesServer } from '#test/helpers/test-db.ts';

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

/**
 * Waits until every export request in `requestIds` is completed and its completion is in the audit trail.
 * @returns the requests named by completion entries, sorted, one per entry (an export completed twice shows
 *   twice).
 */
export async function completedExports(db: Db, requestIds: readonly string[], timeoutMs: number): Promise<string[]> {
  const completions = async () =>
    (
      await db
        .select({ targetId: auditLog.targetId })
        .from(auditLog)
        .where(and(eq(auditLog.action, 'privacy.export_completed'), inArray(auditLog.targetId, [...requestIds])))
    ).map((row) => row.targetId ?? '');
  await waitFor(
    'every export completed and recorded',
    async () => {
      const rows = await db
        .select({ status: privacyRequests.status })
        .from(privacyRequests)
        .where(inArray(privacyRequests.id, [...requestIds]));
      const done = rows.length === requestIds.length && rows.every((row) => row.status === 'completed');
      return done && new Set(await completions()).size === requestIds.length;
    },
    timeoutMs,
  );
  return (await completions()).sort();
}

/** Runs `task` and returns its result with how long it took. */
export async function timed<T>(task: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await task();
  return { value, ms: performance.now() - started };
}

/**
 * The database settings for a product process started by a test: on the PostgreSQL server (TEST_DATABASE_URL)
 * a fresh data database and key store of its own, which the test can also query; on PGlite nothing (the
 * process opens PGlite in its DATA_DIR, one process only).
 */
export interface ProductDatabases {
  env: Record<string, string>;
  /** Open handles on the server tier (undefined on PGlite). */
  database: TestDatabase | undefined;
  close(): Promise<void>;
}

export async function productDatabases(): Promise<ProductDatabases> {
  if (!usesServer) return { env: {}, database: undefined, close: async () => {} };
  const database = await createTestDatabase();
  const keystore = await createTestKeystore();
  return {
    env: { DATABASE_URL: database.url as string, KEYSTORE_DATABASE_URL: keystore.url as string },
    database,
    async close() {
      await database.close();
      await keystore.close();
    },
  };
}

/** How one HTTP request ended: a status and body, or the socket error that ended it instead. */
export interface Outcome {
  status?: number;
  body?: string;
  error?: string;
  ms: number;
}

/** One request on a connection of its own (no keep-alive), recording how it ended; never rejects. */
export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown; timeoutMs?: number } = {},
): Promise<Outcome> {
  const started = performance.now();
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve) => {
    const request = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        headers: {
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
            : {}),
          ...options.headers,
        },
        timeout: options.timeoutMs ?? 15_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
        response.on('error', (error: NodeJS.ErrnoException) =>
          resolve({ error: error.code ?? error.message, ms: performance.now() - started }),
        );
      },
    );
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ error: error.code ?? error.message, ms: performance.now() - started }),
    );
    request.end(payload);
  });
}

/** The error code of a JSON error body (`{ error: { code } }`), or undefined. */
export function errorCode(outcome: Outcome): string | undefined {
  try {
    return (JSON.parse(outcome.body ?? '') as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Runs every cleanup step even when one fails, then throws the first failure. */
export async function cleanUp(...steps: (() => unknown)[]): Promise<void> {
  let first: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      first ??= error;
    }
  }
  if (first !== undefined) throw first;
}
