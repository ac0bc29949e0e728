/**
 * Threat: a stolen session or any API key of a person with MFA on asks for a complete copy of their data.
 * With MFA on, asking for the export needs a second factor from the last 10 minutes, and API keys are refused.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, signInAs, withSecondFactor } from '#test/helpers/sign-in.ts';
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

const exportWith = (headers: Record<string, string>) =>
  t.app.inject({ method: 'POST', url: '/api/v1/privacy/export', headers });

describe('data export with MFA on', () => {
  it('needs a fresh second factor, and is refused to API keys', async () => {
    const person = await signInAs(t, 'user');
    const { secret } = await t.services.mfa.startEnrolment(person.userId, 'p');
    expect((await t.services.mfa.confirmEnrolment(person.userId, await codeNow(secret), 'api')).ok).toBe(true);
    nextStep();
    const key = await t.services.apiKeys.create({ userId: person.userId, name: 'script', source: 'api' });

    const withoutFactor = await exportWith(bearer(person.accessToken));
    expect(withoutFactor.statusCode).toBe(403);
    expect(withoutFactor.json().error.code).toBe('STEP_UP_REQUIRED');
    const byKey = await exportWith({ 'x-api-key': key.key });
    expect(byKey.statusCode).toBe(403);
    expect(byKey.json().error.code).toBe('STEP_UP_REQUIRED');

    await withSecondFactor(t, person);
    const stepped = await exportWith(bearer(person.accessToken));
    expect(stepped.statusCode).toBe(202);
  });

  it('needs nothing more when MFA is off', async () => {
    const person = await signInAs(t, 'user');
    expect((await exportWith(bearer(person.accessToken))).statusCode).toBe(202);
  });
});
