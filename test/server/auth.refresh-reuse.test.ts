/**
 * Threat: a stolen refresh token. Tokens rotate on every use; presenting one that was already rotated means
 * two parties hold the family, so the whole family (the session) is revoked, a security event is recorded,
 * and the owner is told in Telegram with a button to review sessions.
 */
import { QueueEvents } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullPrefix } from '#server/queues.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { createLogger } from '#shared/logger.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { signedInitData } from '#test/helpers/init-data.ts';

let t: TestApp;
let workers: RunningWorkers;
let telegram: TestBot;
const TELEGRAM_ID = 4_242_001;

const refresh = (refreshToken: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
const me = (token: string) =>
  t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  t = await buildTestApp({
    // Every reuse here comes from one address: the token-replay scenario would ban it (test/server/defense).
    env: { BOT_TOKEN: TEST_BOT_TOKEN, DEFENSE_SCENARIOS: 'token-replay=off' },
  });
  telegram = createTestBot({ db: t.database.db }); // only its recording fetch is used: the Bot API edge
  workers = await startWorkers({
    database: t.database,
    crypto: { ring: t.ring, userKeys: t.userKeys },
    audit: { signingKey: deriveAuditSigningKey(t.secrets.masterKey) },
    telegram: { botToken: TEST_BOT_TOKEN, apiRoot: 'https://api.telegram.invalid', fetch: telegram.fetch },
    logger: createLogger({ level: 'silent' }),
    connection: () => t.redis.createBullConnection(),
    redisPrefix: t.redisPrefix,
  });
});
afterAll(async () => {
  await workers.close();
  await t.close();
});

let logins = 0;
async function signIn() {
  logins++;
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/telegram',
    payload: {
      initData: signedInitData({
        user: { id: TELEGRAM_ID, first_name: 'Ada', language_code: 'en' },
        queryId: `AAH-login-${logins}`, // each Mini App launch has its own initData
      }),
    },
  });
  expect(response.statusCode).toBe(200);
  return response.json() as { accessToken: string; refreshToken: string; user: { id: string } };
}

describe('refresh token rotation', () => {
  it('rotates on every use: each refresh token works once and yields a new pair', async () => {
    const first = await signIn();
    const second = await refresh(first.refreshToken);
    expect(second.statusCode).toBe(200);
    const body = second.json();
    expect(body.refreshToken).not.toBe(first.refreshToken);
    expect((await me(body.accessToken)).statusCode).toBe(200);
    const third = await refresh(body.refreshToken);
    expect(third.statusCode).toBe(200);
    // Stored only as hashes: the raw tokens never reach Redis.
    const keys = await t.redis.client.keys(`${t.redisPrefix}:rt:*`);
    expect(keys.length).toBeGreaterThanOrEqual(3);
    expect(keys.join()).not.toContain(first.refreshToken.slice(3));
  });

  it('revokes the whole family when a rotated token is presented again, and tells the owner', async () => {
    const login = await signIn();
    const rotated = (await refresh(login.refreshToken)).json(); // the legitimate client rotated
    const events = new QueueEvents('notify', {
      connection: t.redis.createBullConnection(),
      prefix: bullPrefix(t.redisPrefix),
    });
    await events.waitUntilReady();

    const reuse = await refresh(login.refreshToken); // the thief replays the old one
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().error.code).toBe('REFRESH_TOKEN_REUSED');

    // The family is gone: the current access token and the newest refresh token stop working at once.
    expect((await me(rotated.accessToken)).json().error.code).toBe('SESSION_REVOKED');
    expect((await refresh(rotated.refreshToken)).json().error.code).toBe('SESSION_REVOKED');

    const [job] = await t.queues.notify.getJobs(['completed', 'waiting', 'active', 'delayed'], 0, 0);
    expect(job?.data).toEqual({ kind: 'refresh-reuse', userId: login.user.id }); // ids only
    if (job && !(await job.isCompleted())) await job.waitUntilFinished(events, 10_000);
    await events.close();

    const sent = telegram.callsOf('sendMessage');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.payload.chat_id).toBe(TELEGRAM_ID);
    expect(String(sent[0]?.payload.text)).toMatch(/^⚠️ An old sign-in token was used/);
    expect(sent[0]?.payload.reply_markup).toEqual({
      inline_keyboard: [[{ text: 'Review sessions', callback_data: 'sessions' }]],
    });

    const audit = await t.database.db.execute(
      sql`select result, reason_code, subject_user_id from audit_log where action = 'auth.refresh_reuse'`,
    );
    expect((audit as unknown as { rows: unknown[] }).rows).toEqual([
      { result: 'denied', reason_code: 'REFRESH_TOKEN_REUSED', subject_user_id: login.user.id },
    ]);
  });

  it('leaves the owner’s other sessions alone', async () => {
    const phone = await signIn();
    const laptop = await signIn();
    await refresh(laptop.refreshToken);
    await refresh(laptop.refreshToken); // reuse on the laptop session
    expect((await me(laptop.accessToken)).statusCode).toBe(401);
    expect((await me(phone.accessToken)).statusCode).toBe(200);
  });

  it('refuses unknown, malformed and oversized refresh tokens without detail', async () => {
    for (const value of ['rt_not-a-real-token', 'garbage', `rt_${'a'.repeat(150)}`]) {
      const response = await refresh(value);
      expect(response.statusCode, value.slice(0, 12)).toBe(value.length > 200 ? 400 : 401);
    }
  });
});
