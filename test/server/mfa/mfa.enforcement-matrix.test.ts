/**
 * Threat: a second factor that one way in forgets is no second factor. Once a person has MFA, every path that
 * yields tokens must need the code: Telegram initData sign-in (answers a challenge, completed with a TOTP or a
 * backup code), the shared `completeSignIn` that OAuth sign-in calls with a linked account, and refresh
 * (a session that never proved the second factor is not renewed once MFA is on; past the absolute lifetime a
 * session cannot be renewed at all, and signing in again needs the code). Without MFA nothing changes.
 * Tokens from a completed second factor carry `amr` with `otp`.
 *
 * The OAuth routes themselves are tested by the OAuth capability; here the function they call is checked.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { completeSignIn } from '#server/routes/auth/sign-in.ts';
import { findUserById } from '#shared/identity/users.ts';
import { SESSION_ABSOLUTE_SECONDS } from '#shared/tokens/sessions.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { nextTelegramId, signIn } from '#test/helpers/sign-in.ts';
import {
  advanceSeconds,
  amrOf,
  codeNow,
  enrolViaApi,
  nextStep,
  telegramSignIn,
  useTestClock,
  verifyChallenge,
} from './mfa-helpers.ts';

let t: TestApp;
beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=10000/60,api=10000/60' } });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

/** A person signed in once, with or without MFA. */
async function person(mfa: boolean) {
  const user = { id: nextTelegramId(), first_name: 'Matrix' };
  const first = await signIn(t.app, user);
  const enrolled = mfa ? await enrolViaApi(t.app, first) : undefined;
  return { user, first, enrolled };
}

function refresh(refreshToken: string) {
  return t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
}

describe('Telegram initData sign-in', () => {
  it('MFA off: tokens at once, amr [tg]', async () => {
    const { user } = await person(false);
    const response = await telegramSignIn(t.app, user);
    expect(response.statusCode).toBe(200);
    const body = response.json() as { accessToken: string; mfaRequired?: boolean };
    expect(body.mfaRequired).toBeUndefined();
    expect(amrOf(body.accessToken)).toEqual(['tg']);
  });

  it('MFA on: a challenge and no tokens; the code completes it with amr [tg, otp]', async () => {
    const { user, enrolled } = await person(true);
    const response = await telegramSignIn(t.app, user);
    expect(response.statusCode).toBe(200);
    const body = response.json() as Record<string, unknown>;
    expect(body).toMatchObject({ mfaRequired: true, methods: ['totp', 'backup_code'] });
    expect(body.accessToken).toBeUndefined();
    expect(body.refreshToken).toBeUndefined();
    expect(body.expiresIn).toBeGreaterThan(0);
    const verified = await verifyChallenge(t.app, String(body.challenge), await codeNow(enrolled?.secret ?? ''));
    expect(verified.statusCode, verified.body).toBe(200);
    const tokens = verified.json() as { accessToken: string; refreshToken: string; user: { id: string } };
    expect(amrOf(tokens.accessToken)).toEqual(['tg', 'otp']);
    expect(tokens.refreshToken).toMatch(/^rt_/);
  });

  it('MFA on: a wrong code gets no tokens, and a used challenge cannot be used again', async () => {
    const { user, enrolled } = await person(true);
    const { challenge } = (await telegramSignIn(t.app, user)).json() as { challenge: string };
    const wrong = await verifyChallenge(t.app, challenge, '000000');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error: { code: 'SECOND_FACTOR_INVALID' } });
    expect((await verifyChallenge(t.app, challenge, await codeNow(enrolled?.secret ?? ''))).statusCode).toBe(200);
    nextStep();
    const again = await verifyChallenge(t.app, challenge, await codeNow(enrolled?.secret ?? ''));
    expect(again.statusCode).toBe(401);
    expect(again.json()).toMatchObject({ error: { code: 'MFA_CHALLENGE_INVALID' } });
  });

  it('MFA on: a backup code completes the challenge once', async () => {
    const { user, enrolled } = await person(true);
    const code = enrolled?.backupCodes[0] ?? '';
    const first = (await telegramSignIn(t.app, user)).json() as { challenge: string };
    expect((await verifyChallenge(t.app, first.challenge, code)).statusCode).toBe(200);
    const second = (await telegramSignIn(t.app, user)).json() as { challenge: string };
    expect((await verifyChallenge(t.app, second.challenge, code)).statusCode).toBe(401);
  });

  it('refuses made-up and expired challenges', async () => {
    const { user, enrolled } = await person(true);
    expect((await verifyChallenge(t.app, 'mfa_madeupmadeupmadeupmadeup', '123456')).json()).toMatchObject({
      error: { code: 'MFA_CHALLENGE_INVALID' },
    });
    const { challenge } = (await telegramSignIn(t.app, user)).json() as { challenge: string };
    // Redis expires the challenge in real time: drop it as its TTL would.
    const keys = await t.redis.client.keys(`${t.redisPrefix}:mfa:chal:*`);
    await t.redis.client.del(...keys);
    const late = await verifyChallenge(t.app, challenge, await codeNow(enrolled?.secret ?? ''));
    expect(late.json()).toMatchObject({ error: { code: 'MFA_CHALLENGE_INVALID' } });
  });
});

describe('sign-in with a linked account (completeSignIn, as the OAuth routes call it)', () => {
  it.each([false, true])('MFA %s', async (mfa) => {
    const { first } = await person(mfa);
    const user = await findUserById(t.database.db, first.userId);
    if (!user) throw new Error('no user');
    const outcome = await completeSignIn(
      { ...t.services, db: t.database.db },
      { user, method: 'oauth', client: 'Mini App', ip: '203.0.113.9', requestId: 'req-1' },
    );
    if (mfa) {
      expect(outcome.kind).toBe('mfa_required');
    } else {
      expect(outcome.kind).toBe('tokens');
      if (outcome.kind === 'tokens') expect(amrOf(outcome.body.accessToken)).toEqual(['oauth']);
    }
  });

  it('MFA on: the challenge from an OAuth sign-in completes to amr [oauth, otp]', async () => {
    const { first, enrolled } = await person(true);
    const user = await findUserById(t.database.db, first.userId);
    if (!user) throw new Error('no user');
    const outcome = await completeSignIn(
      { ...t.services, db: t.database.db },
      { user, method: 'oauth', client: 'Mini App', ip: '203.0.113.9', requestId: 'req-2' },
    );
    if (outcome.kind !== 'mfa_required') throw new Error('expected a challenge');
    const verified = await verifyChallenge(t.app, outcome.body.challenge, await codeNow(enrolled?.secret ?? ''));
    expect(amrOf((verified.json() as { accessToken: string }).accessToken)).toEqual(['oauth', 'otp']);
  });
});

describe('refresh within the absolute lifetime', () => {
  it('MFA off: renews', async () => {
    const { first } = await person(false);
    expect((await refresh(first.refreshToken)).statusCode).toBe(200);
  });

  it('MFA on, session that proved the code: renews and keeps otp', async () => {
    const { user, enrolled } = await person(true);
    const { challenge } = (await telegramSignIn(t.app, user)).json() as { challenge: string };
    const tokens = (await verifyChallenge(t.app, challenge, await codeNow(enrolled?.secret ?? ''))).json() as {
      refreshToken: string;
    };
    const renewed = await refresh(tokens.refreshToken);
    expect(renewed.statusCode).toBe(200);
    expect(amrOf((renewed.json() as { accessToken: string }).accessToken)).toEqual(['tg', 'otp']);
  });

  it('MFA on, session from before enrolment: not renewed (sign in again with a code)', async () => {
    const user = { id: nextTelegramId(), first_name: 'Two devices' };
    const laptop = await signIn(t.app, user);
    const phone = await signIn(t.app, user);
    await enrolViaApi(t.app, laptop); // the enrolling session proved the code; the phone's did not
    const response = await refresh(phone.refreshToken);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { code: 'MFA_REQUIRED' } });
    expect((await refresh(laptop.refreshToken)).statusCode).toBe(200);
  });
});

describe('refresh beyond the absolute lifetime', () => {
  it.each([false, true])('MFA %s: refused; signing in again needs the code only with MFA', async (mfa) => {
    const { user, first } = await person(mfa);
    advanceSeconds(SESSION_ABSOLUTE_SECONDS + 60);
    const response = await refresh(first.refreshToken);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { code: 'REFRESH_TOKEN_EXPIRED' } });
    const again = (await telegramSignIn(t.app, user)).json() as { mfaRequired?: boolean; accessToken?: string };
    expect(again.mfaRequired === true).toBe(mfa);
    expect(again.accessToken === undefined).toBe(mfa);
  });
});
