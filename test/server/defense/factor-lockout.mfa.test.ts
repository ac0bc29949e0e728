/**
 * Threat: a code guesser spreads attempts over many API sessions and addresses. Intrusion detection's
 * `factor_lockout` decision is about the person, so the real MFA service refuses every API code check for
 * them, even the right code, until the decision is lifted. The bot stays open to the owner: it is their own
 * channel, and someone holding only an API session must not be able to lock them out of it.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { codeNow, nextStep, useTestClock } from '../mfa/mfa-helpers.ts';

let t: TestApp;

beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

describe('a factor lockout decision', () => {
  it("stops the person's API code checks until it is lifted, and leaves their bot channel open", async () => {
    const { user } = await upsertTelegramUser(t.database.db, { telegramId: 7_400_001, adminTelegramIds: [] });
    const { user: admin } = await upsertTelegramUser(t.database.db, {
      telegramId: 7_400_002,
      adminTelegramIds: [7_400_002],
    });
    const { secret } = await t.services.mfa.startEnrolment(user.id, '7400001');
    expect((await t.services.mfa.confirmEnrolment(user.id, await codeNow(secret), 'api')).ok).toBe(true);
    nextStep();

    const decision = await t.services.defense.issueManual(
      { target: { scope: 'user', value: user.id }, kind: 'factor_lockout', seconds: 900, reason: 'test' },
      { actorUserId: admin.id, source: 'api' },
    );
    expect(t.services.defense.isFactorLocked(user.id)).toBe(true);
    expect(await t.services.mfa.verify(user.id, await codeNow(secret), 'api')).toBe('locked');
    expect(await t.services.mfa.verify(user.id, await codeNow(secret), 'bot')).toBe('ok');

    await t.services.defense.lift(decision.id, { actorUserId: admin.id, source: 'api' });
    nextStep();
    expect(await t.services.mfa.verify(user.id, await codeNow(secret), 'api')).toBe('ok');
  });
});
