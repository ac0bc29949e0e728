/**
 * Threat: a Redis outage while requests and jobs run. The API must answer 503 with a code at once (never hang,
 * never crash), jobs queued before and around the outage must run once Redis returns (Redis keeps them on disk
 * with AOF, as the product's embedded Redis does), and none may run its effect twice: each export completes
 * once, with exactly one completion in the audit trail. The real API and the real worker role share one private
 * redis-server that the test kills (SIGKILL, a crash) and starts again on the same port and folder.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorkers } from '#server/workers/index.ts';
import { connectRedis, type RedisHandle } from '#shared/redis/index.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { type PrivateRedis, startPrivateRedis } from '#test/helpers/redis-server.ts';
import { bearer, type SignedIn, signInAs } from '#test/helpers/sign-in.ts';
import { cleanUp, completedExports, startTestWorkers, timed, waitFor } from './harness.ts';

/** The longest a request may take while Redis is down: failing fast, not waiting for a timeout. */
const OUTAGE_REQUEST_LIMIT_MS = 2_000;

let server: PrivateRedis;
let redis: RedisHandle;
let t: TestApp;
let workers: RunningWorkers | undefined;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  server = await startPrivateRedis({ appendonly: true });
  redis = await connectRedis({ url: server.url, isDefault: false, dataDir: server.dir, connectTimeoutMs: 5_000 });
  t = await buildTestApp({ redis, env: { BOT_TOKEN: TEST_BOT_TOKEN } });
  workers = await startTestWorkers(t);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await cleanUp(
    () => workers?.close(),
    () => t?.close(), // its database too
    () => redis?.close(),
    () => server?.close(), // its folder (and so every key it held) goes with it
    () => t && rmSync(t.config.dataDir, { recursive: true, force: true }),
  );
});

const exportFor = (person: SignedIn) =>
  t.app.inject({ method: 'POST', url: '/api/v1/privacy/export', headers: bearer(person.accessToken) });

describe('Redis stopped and restarted while requests and jobs run', () => {
  it('answers 503 with a code while it is down, runs every queued job once after it returns', async () => {
    const people: SignedIn[] = [];
    for (let i = 0; i < 6; i++) people.push(await signInAs(t, 'user'));
    const before = people.slice(0, 3);
    const after = people.slice(3);

    // Queued just before the outage: three exports (in flight when Redis dies) and pings due during it.
    const requestIds: string[] = [];
    for (const person of before) {
      const response = await exportFor(person);
      expect(response.statusCode).toBe(202);
      requestIds.push(response.json().request.id);
    }
    const pings = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        t.queues.system.add('ping', { kind: 'ping', requestedAt: new Date().toISOString() }, { delay: 500 + i * 300 }),
      ),
    );
    await server.kill();

    // While it is down: every Redis-backed route answers 503 with a code, fast; the process stays up.
    await waitFor('the client notices the outage', async () => t.redis.client.status !== 'ready', 5_000);
    const outageStarted = Date.now();
    const slowest = { ms: 0 };
    while (Date.now() - outageStarted < 3_000) {
      for (const request of [
        () => exportFor(after[0] as SignedIn),
        () =>
          t.app.inject({
            method: 'GET',
            url: '/api/v1/privacy/requests',
            headers: bearer((before[0] as SignedIn).accessToken),
          }),
        () => t.app.inject({ method: 'POST', url: '/api/v1/auth/telegram', payload: { initData: 'x' } }),
      ]) {
        const { value: response, ms } = await timed(request);
        slowest.ms = Math.max(slowest.ms, ms);
        expect(response.statusCode).toBe(503);
        expect(response.json().error.code).toBe('REDIS_UNAVAILABLE');
      }
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks.redis).toBe('fail');
    }
    expect(slowest.ms).toBeLessThan(OUTAGE_REQUEST_LIMIT_MS);
    console.info(`Redis down: slowest 503 answered in ${Math.round(slowest.ms)} ms`);

    // Redis returns (same port, same AOF): the process recovers by itself.
    await server.start();
    const recoveredMs = await waitFor(
      'readyz 200 after Redis returns',
      async () => (await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200,
    );
    console.info(`Redis back: ready again ${recoveredMs} ms after it restarted`);
    for (const person of after) {
      const response = await exportFor(person);
      expect(response.statusCode).toBe(202);
      requestIds.push(response.json().request.id);
    }

    // Every export requested before and after the outage completes, and completes once.
    expect(await completedExports(t.database.db, requestIds, 60_000)).toEqual([...requestIds].sort());

    // The pings that fell due while Redis was down ran after it returned, each once.
    await waitFor('every ping completed', async () =>
      (await Promise.all(pings.map((job) => job.getState()))).every((state) => state === 'completed'),
    );
    for (const job of pings) {
      const stored = await t.queues.system.getJob(job.id as string);
      expect(stored?.attemptsMade).toBe(1);
      expect(stored?.returnvalue).toMatchObject({ ok: true, database: 'ok' });
    }
    expect(unhandled).toEqual([]);
  });
});
