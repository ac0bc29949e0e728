/**
 * Threat: an attacker guessing codes goes unnoticed, or locks the owner out everywhere. Five wrong codes lock
 * the channel they came from (the lockout's threat model is in test/shared/mfa/mfa.lockout.db.test.ts); each
 * lockout is a security event in the audit trail and a Telegram notice, sent through the real notify worker.
 * The owner's bot channel keeps working while the API channel is locked.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { createLogger } from '#shared/logger.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { bearer, signInAs } from '#test/helpers/sign-in.ts';
import { codeNow, enrolViaApi, nextStep, useTestClock } from './mfa-helpers.ts';

let t: TestApp;
let telegram: TestBot;
let workers: RunningWorkers;
beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=10000/60,api=10000/60' } });
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
  vi.useRealTimers();
});

describe('lockout events', () => {
  it('locks the API channel on the 5th wrong code, records a security event and tells the owner', async () => {
    const person = await signInAs(t, 'user');
    const { secret } = await enrolViaApi(t.app, person);
    const stepUp = (code: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/step-up',
        headers: bearer(person.accessToken),
        payload: { code },
      });
    for (let attempt = 1; attempt <= 4; attempt++) expect((await stepUp('000000')).statusCode).toBe(401);
    const fifth = await stepUp('000000');
    expect(fifth.statusCode).toBe(429);
    expect(fifth.json()).toMatchObject({ error: { code: 'SECOND_FACTOR_LOCKED' } });
    // Locked: even the right code is refused on this channel now.
    const right = await stepUp(await codeNow(secret));
    expect(right.statusCode).toBe(429);

    const events = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.subjectUserId, person.userId), eq(auditLog.action, 'mfa.lockout')));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ result: 'denied', reasonCode: 'SECOND_FACTOR_LOCKED', source: 'api' });

    await vi.waitFor(
      () => {
        const sent = telegram.callsOf('sendMessage').filter((call) => call.payload.chat_id === person.telegramId);
        expect(sent.map((call) => String(call.payload.text)).some((text) => text.includes('app or API'))).toBe(true);
      },
      { timeout: 15_000, interval: 100 },
    );

    // The bot channel is the owner's own: it still verifies.
    nextStep();
    expect(await t.services.mfa.verify(person.userId, await codeNow(secret), 'bot')).toBe('ok');
    const status = await t.app.inject({ method: 'GET', url: '/api/v1/mfa', headers: bearer(person.accessToken) });
    expect((status.json() as { lockedUntil: string | null }).lockedUntil).not.toBeNull();
  });

  it('counts wrong codes at a sign-in challenge toward the API lock too', async () => {
    const person = await signInAs(t, 'user');
    const { secret } = await enrolViaApi(t.app, person);
    for (let attempt = 1; attempt <= 5; attempt++) {
      await t.services.mfa.verify(person.userId, '111111', 'api');
    }
    const challenge = await t.services.mfa.createChallenge({
      userId: person.userId,
      amr: ['tg'],
      client: 'Mini App',
      ip: '203.0.113.1',
    });
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/verify',
      payload: { challenge: challenge.challenge, code: await codeNow(secret) },
    });
    expect(response.statusCode).toBe(429);
  });
});
