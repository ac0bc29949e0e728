/**
 * Threat: PostgreSQL dropping the application's connections (a failover, a restart, an administrator) while
 * requests and jobs run. The API must answer 503 DATABASE_UNAVAILABLE at once (never a 500, a hang or a
 * crash), and jobs queued before and during the outage must complete, once each, when the database accepts
 * connections again. The test cuts the app off for real: it closes the app's databases to new connections
 * and terminates every backend they have, from a separate connection, then lets them back in.
 *
 * PGlite runs inside the process and has no connection to lose, so this file runs on the PostgreSQL server
 * pass only (TEST_DATABASE_URL, which CI sets); Redis outages are covered on both in redis-restart.test.ts.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorkers } from '#server/workers/index.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signInAs } from '#test/helpers/sign-in.ts';
import { usesServer } from '#test/helpers/test-db.ts';
import { completedExports, startTestWorkers, timed, waitFor } from './harness.ts';

const OUTAGE_REQUEST_LIMIT_MS = 2_000;

describe.runIf(usesServer)('PostgreSQL connection loss while requests and jobs run (PostgreSQL server pass)', () => {
  let t: TestApp;
  let workers: RunningWorkers | undefined;
  let admin: pg.Client;
  let names: string[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  const setAllowConnections = async (allow: boolean) => {
    for (const name of names) await admin.query(`alter database ${name} allow_connections ${allow}`);
  };

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
    workers = await startTestWorkers(t);
    admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    names = [t.database.url, t.keystore.url].map((url) => new URL(url as string).pathname.slice(1));
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    if (admin) {
      await setAllowConnections(true).catch(() => {});
      await admin.end();
    }
    await workers?.close();
    await t?.close();
  });

  const exportFor = (person: SignedIn) =>
    t.app.inject({ method: 'POST', url: '/api/v1/privacy/export', headers: bearer(person.accessToken) });

  it('answers 503 DATABASE_UNAVAILABLE while cut off, and completes every queued job once after', async () => {
    const people: SignedIn[] = [];
    for (let i = 0; i < 4; i++) people.push(await signInAs(t, 'user'));
    const requestIds: string[] = [];
    for (const person of people.slice(0, 2)) {
      const response = await exportFor(person);
      expect(response.statusCode).toBe(202);
      requestIds.push(response.json().request.id);
    }

    // The outage: no new connections, and every existing backend of the app's databases terminated.
    await setAllowConnections(false);
    const terminated = await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = any($1) and pid <> pg_backend_pid()',
      [names],
    );
    expect(terminated.rowCount).toBeGreaterThan(0);

    const outageStarted = Date.now();
    let slowest = 0;
    while (Date.now() - outageStarted < 3_000) {
      for (const request of [
        () => exportFor(people[2] as SignedIn),
        () =>
          t.app.inject({
            method: 'GET',
            url: '/api/v1/privacy/requests',
            headers: bearer((people[0] as SignedIn).accessToken),
          }),
      ]) {
        const { value: response, ms } = await timed(request);
        slowest = Math.max(slowest, ms);
        expect(response.statusCode).toBe(503);
        expect(response.json().error.code).toBe('DATABASE_UNAVAILABLE');
      }
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks.database).toBe('fail');
    }
    expect(slowest).toBeLessThan(OUTAGE_REQUEST_LIMIT_MS);
    console.info(`PostgreSQL cut off: slowest 503 answered in ${Math.round(slowest)} ms`);

    await setAllowConnections(true);
    const recoveredMs = await waitFor(
      'readyz 200 after the database returns',
      async () => (await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200,
    );
    console.info(`PostgreSQL back: ready again after ${recoveredMs} ms`);
    for (const person of people.slice(2)) {
      const response = await exportFor(person);
      expect(response.statusCode).toBe(202);
      requestIds.push(response.json().request.id);
    }

    // Exports interrupted by the outage are retried (the queue's backoff) and complete, once each.
    expect(await completedExports(t.database.db, requestIds, 90_000)).toEqual([...requestIds].sort());
    expect(unhandled).toEqual([]);
  }, 150_000);
});
