/**
 * Redis lost while running must not take the process down: /readyz turns 503, routes that need Redis get
 * 503 REDIS_UNAVAILABLE at once (no hanging), and everything recovers by itself when Redis returns.
 * The test starts its own redis-server, kills it, and starts it again on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisHandle } from '#shared/redis/index.ts';
import { textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot } from '#test/helpers/create-test-bot.ts';
import { freePort } from '#test/helpers/spawn-server.ts';
import { createTestDatabase } from '#test/helpers/test-db.ts';

let port: number;
let redisProcess: ChildProcess | undefined;
let redis: RedisHandle;
let t: TestApp;
const dir = mkdtempSync(join(tmpdir(), 'tsp-redis-'));

async function startRedis(): Promise<void> {
  redisProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    const probe = await fetch(`http://127.0.0.1:${port}`).catch((error: Error) => error);
    // Redis answers HTTP with a protocol error: the socket is open.
    if (!(probe instanceof Error) || !/ECONNREFUSED/.test(String((probe as Error).cause))) return;
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

async function killRedis(): Promise<void> {
  const child = redisProcess;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL'); // a crash, not a clean shutdown
  await exited;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await sleep(100);
  }
  throw new Error('condition not reached in time');
}

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  redis = await connectRedis({
    url: `redis://127.0.0.1:${port}`,
    isDefault: false,
    dataDir: dir,
    connectTimeoutMs: 5_000,
  });
  const database = await createTestDatabase();
  const { bot } = createTestBot({ db: database.db });
  t = await buildTestApp({ database, redis, bot, env: { BOT_MODE: 'webhook' } });
});
afterAll(async () => {
  await t.close();
  await redis.close();
  await t.database.close();
  await killRedis();
});

const readyz = () => t.app.inject({ method: 'GET', url: '/readyz' });
const webhook = () =>
  t.app.inject({
    method: 'POST',
    url: '/telegram/webhook',
    headers: { 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret },
    payload: textMessage('/help'),
  });

describe('Redis killed and restarted', () => {
  it('is ready while Redis is up', async () => {
    expect((await readyz()).statusCode).toBe(200);
    expect((await webhook()).statusCode).toBe(200);
  });

  it('turns readyz 503 and answers Redis-backed routes 503 with a code while Redis is down', async () => {
    await killRedis();
    await waitFor(async () => (await readyz()).statusCode === 503);
    // The client notices the closed socket within milliseconds; from then on the guard answers at once.
    await waitFor(async () => (await webhook()).statusCode === 503, 2_000);
    const ready = await readyz();
    expect(ready.json()).toEqual({
      status: 'not_ready',
      checks: { database: 'ok', keystore: 'ok', migrations: 'ok', redis: 'fail' },
    });

    const started = Date.now();
    const response = await webhook();
    expect(response.statusCode).toBe(503);
    expect(response.json().error.code).toBe('REDIS_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(2_000); // fails fast, does not hang

    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200); // the process is up
  });

  it('recovers by itself when Redis returns, with no restart', async () => {
    await startRedis();
    const recoveredInMs = await waitFor(async () => (await readyz()).statusCode === 200);
    expect(recoveredInMs).toBeLessThan(15_000);
    expect((await webhook()).statusCode).toBe(200);
  });
});
