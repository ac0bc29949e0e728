/**
 * Threat: a deploy (SIGTERM) dropping work on the floor. The real product (`npm start`'s server/main.ts, all
 * roles, webhook mode) gets SIGTERM while slow webhook updates and API requests are in flight: every request
 * accepted before the signal completes (no connection reset), later ones are refused or answered 503 with a
 * code, and no update is acknowledged (HTTP 200, so Telegram will not deliver it again) without having been
 * handled: each acknowledged /start produced its replies, each refused one produced none. Telegram's Bot API
 * is a local stub whose sendMessage answers slowly, which keeps the updates in flight.
 */
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textMessage } from '#test/fixtures/updates.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { signedInitData } from '#test/helpers/init-data.ts';
import { type PrivateRedis, startPrivateRedis } from '#test/helpers/redis-server.ts';
import { type SpawnedServer, spawnServer } from '#test/helpers/spawn-server.ts';
import { type BotApiStub, startBotApiStub } from './bot-api-stub.ts';
import { cleanUp, errorCode, type Outcome, type ProductDatabases, productDatabases, send, waitFor } from './harness.ts';

const WEBHOOK_SECRET = 'resilience-webhook-secret-0123456789abcdef';
/** How long the stub takes to answer each sendMessage: a /start (two replies) stays in flight about 1.2 s. */
const SEND_DELAY_MS = 600;
/** Two PGlite databases start slowly on a busy 2-core machine. */
const STARTUP_LIMIT_MS = 180_000;

let stub: BotApiStub;
let redis: PrivateRedis;
let databases: ProductDatabases;
let server: SpawnedServer;

beforeAll(async () => {
  stub = await startBotApiStub();
  redis = await startPrivateRedis({ appendonly: false });
  databases = await productDatabases();
  server = await spawnServer(
    {
      BOT_TOKEN: TEST_BOT_TOKEN,
      BOT_MODE: 'webhook',
      PUBLIC_URL: 'https://bot.example.test',
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TELEGRAM_API_ROOT: stub.apiRoot,
      REDIS_URL: redis.url,
      SHUTDOWN_TIMEOUT_SECONDS: '30',
      ...databases.env,
    },
    STARTUP_LIMIT_MS,
  );
}, STARTUP_LIMIT_MS + 30_000);
afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await cleanUp(
    () => server && rmSync(server.dataDir, { recursive: true, force: true }),
    () => databases?.close(),
    () => redis?.close(),
    () => stub?.stop(),
  );
});

let nextUserId = 7_100_000;
function startUpdate(): { chatId: number; outcome: Promise<Outcome> } {
  const chatId = ++nextUserId;
  const update = textMessage('/start', { id: chatId, first_name: 'Load', language_code: 'en' });
  const outcome = send(`${server.url}/telegram/webhook`, {
    method: 'POST',
    headers: { 'x-telegram-bot-api-secret-token': WEBHOOK_SECRET },
    body: update,
  });
  return { chatId, outcome };
}
function signIn(): Promise<Outcome> {
  return send(`${server.url}/api/v1/auth/telegram`, {
    method: 'POST',
    body: { initData: signedInitData({ user: { id: ++nextUserId, first_name: 'Api' }, queryId: `AAH${nextUserId}` }) },
  });
}
const repliesTo = (chatId: number) =>
  stub.callsOf('sendMessage').filter((call) => Number(call.payload.chat_id) === chatId).length;

describe('graceful shutdown during load', () => {
  it('completes in-flight requests and acknowledges no update it did not handle', async () => {
    // A /start handled at ease, to learn how many replies one makes (welcome + consent prompt).
    const warm = startUpdate();
    expect((await warm.outcome).status).toBe(200);
    const repliesPerStart = repliesTo(warm.chatId);
    expect(repliesPerStart).toBeGreaterThan(0);

    stub.setSendDelay(SEND_DELAY_MS);
    const inFlight = Array.from({ length: 10 }, () => startUpdate());
    const apiInFlight = Array.from({ length: 4 }, () => signIn());
    // Wait until the bot is mid-way through several updates (their first reply is at the slow stub).
    await waitFor(
      'updates in flight',
      async () => inFlight.filter((update) => repliesTo(update.chatId) > 0).length >= 3,
      20_000,
    );
    const begun = new Set(inFlight.filter((update) => repliesTo(update.chatId) > 0).map((update) => update.chatId));
    const exited = once(server.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const signalledAt = Date.now();
    server.child.kill('SIGTERM');

    // Arriving after the signal: refused, or 503 with a code, or (if it beat the signal) handled in full.
    await sleep(100);
    const late = Array.from({ length: 5 }, () => startUpdate());
    const lateApi = await Promise.all(Array.from({ length: 5 }, () => send(`${server.url}/api/v1/privacy/policy`)));

    const outcomes = await Promise.all(inFlight.map((update) => update.outcome));
    const apiOutcomes = await Promise.all(apiInFlight);
    const lateOutcomes = await Promise.all(late.map((update) => update.outcome));
    const [code] = await exited;
    const shutdownMs = Date.now() - signalledAt;
    console.info(
      `SIGTERM with ${begun.size} updates being handled: updates ${outcomes.map((o) => o.status ?? o.error).join(', ')}; exit ${code} after ${shutdownMs} ms; ` +
        `sign-ins sent before it: ${apiOutcomes.map((o) => o.status ?? o.error).join(', ')}; ` +
        `late requests: ${[...lateOutcomes, ...lateApi].map((o) => o.status ?? o.error).join(', ')}`,
    );

    // Updates the bot had begun: every one completed and was acknowledged. Those not begun yet: the same,
    // or 503 SHUTTING_DOWN (Telegram delivers them again). None reset.
    for (const [index, outcome] of outcomes.entries()) {
      expect(outcome.error).toBeUndefined();
      if (begun.has((inFlight[index] as { chatId: number }).chatId) || outcome.status !== 503) {
        expect(outcome.status).toBe(200);
      } else {
        expect(errorCode(outcome)).toBe('SHUTTING_DOWN');
      }
    }
    // API requests sent before the signal: completed, or (not begun when it came) 503 SHUTTING_DOWN; never reset.
    for (const outcome of apiOutcomes) {
      expect(outcome.error).toBeUndefined();
      if (outcome.status !== 200) {
        expect(outcome.status).toBe(503);
        expect(errorCode(outcome)).toBe('SHUTTING_DOWN');
      }
    }
    // After the signal: handled in full, 503 SHUTTING_DOWN, or no connection. A connection the kernel had
    // accepted but Node had not yet read when the listener closed is reset (Node's server.close() drops idle
    // sockets): no answer, so nothing was acknowledged and Telegram delivers the update again.
    for (const outcome of [...lateOutcomes, ...lateApi]) {
      if (outcome.error) expect(['ECONNREFUSED', 'ECONNRESET']).toContain(outcome.error);
      else if (outcome.status !== 200) {
        expect(outcome.status).toBe(503);
        expect(errorCode(outcome)).toBe('SHUTTING_DOWN');
      }
    }
    // Once the listener is closed, new connections are refused.
    expect((await send(`${server.url}/healthz`)).error).toBe('ECONNREFUSED');
    // No update acknowledged without being handled, none handled without being acknowledged.
    for (const [index, update] of [...inFlight, ...late].entries()) {
      const outcome = [...outcomes, ...lateOutcomes][index] as Outcome;
      expect(repliesTo(update.chatId)).toBe(outcome.status === 200 ? repliesPerStart : 0);
    }
    expect(code).toBe(0);
    expect(server.logs()).toContain('Stopped cleanly');
  });
});
