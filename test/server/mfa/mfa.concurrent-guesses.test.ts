/**
 * Threat: an attacker with a stolen access token and no authenticator fires many code guesses at once, so that
 * they all pass the lockout check before the first failure is counted (about 60 times the five guesses a
 * lockout allows). Code checks run one at a time per person and channel: a guess arriving while another is
 * being checked is refused unseen, so a burst gets at most one guess checked at a time and the lockout still
 * stops the guessing after five.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, signInAs } from '#test/helpers/sign-in.ts';
import { codeNow, enrolViaApi, useTestClock } from './mfa-helpers.ts';

let t: TestApp;
beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=10000/60,api=10000/60' } });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

describe('concurrent code guesses', () => {
  it('are checked one at a time: a burst cannot get past the lockout', async () => {
    const person = await signInAs(t, 'user');
    const { secret } = await enrolViaApi(t.app, person);
    const stepUp = (code: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/step-up',
        headers: bearer(person.accessToken),
        payload: { code },
      });
    let checked = 0;
    for (let burst = 0; burst < 10; burst++) {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => stepUp(String(100_000 + burst * 20 + i))));
      checked += answers.filter((answer) => answer.statusCode === 401).length;
      for (const answer of answers) expect([401, 429]).toContain(answer.statusCode);
    }
    // Five wrong codes lock the channel; nothing beyond them was ever compared with the secret.
    expect(checked).toBeLessThanOrEqual(5);
    expect((await stepUp(await codeNow(secret))).statusCode).toBe(429);
  });
});
