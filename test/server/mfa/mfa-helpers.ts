/**
 * Helpers for MFA tests: a controllable clock (only `Date` is faked, so Redis, PostgreSQL and timers run
 * normally), the current TOTP of a secret, enrolment through the real API, and sign-in that stops at the
 * MFA challenge.
 */
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { expect, vi } from 'vitest';
import type { App } from '#server/app.ts';
import { generateTotp, TOTP_PERIOD_SECONDS } from '#shared/mfa/totp.ts';
import { type InitDataUser, signedInitData } from '#test/helpers/init-data.ts';
import { bearer, type SignedIn } from '#test/helpers/sign-in.ts';

/**
 * Fakes only `Date`, still advancing with real time, so jumps (`advanceSeconds`) are the only difference.
 * Call it before building the app: modules that keep a reference to `Date.now` then keep the fake one.
 */
export function useTestClock(): void {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now(), shouldAdvanceTime: true });
}

/** Moves the faked clock. */
export function advanceSeconds(seconds: number): void {
  vi.setSystemTime(Date.now() + seconds * 1000);
}

/** The next TOTP step: a code there is not a replay of anything used before. */
export function nextStep(): void {
  advanceSeconds(TOTP_PERIOD_SECONDS);
}

/** The code the person's app shows now (or `offsetSteps` away). */
export function codeNow(secret: string, offsetSteps = 0): Promise<string> {
  return generateTotp({ secret, nowSeconds: Date.now() / 1000 + offsetSteps * TOTP_PERIOD_SECONDS });
}

export interface Enrolled {
  secret: string;
  backupCodes: string[];
}

/** Enrols `person` through POST /api/v1/mfa/enrolment and /confirm, then moves to the next step. */
export async function enrolViaApi(app: App, person: Pick<SignedIn, 'accessToken'>): Promise<Enrolled> {
  const start = await app.inject({ method: 'POST', url: '/api/v1/mfa/enrolment', headers: bearer(person.accessToken) });
  expect(start.statusCode, start.body).toBe(200);
  const { secret } = start.json() as { secret: string };
  const confirm = await app.inject({
    method: 'POST',
    url: '/api/v1/mfa/enrolment/confirm',
    headers: bearer(person.accessToken),
    payload: { code: await codeNow(secret) },
  });
  expect(confirm.statusCode, confirm.body).toBe(200);
  nextStep();
  return { secret, backupCodes: (confirm.json() as { backupCodes: string[] }).backupCodes };
}

/** POST /api/v1/auth/telegram for `user` (a fresh query id each time), answering the raw response. */
export function telegramSignIn(app: App, user: InitDataUser) {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/telegram',
    payload: { initData: signedInitData({ user, queryId: `AAH${randomBytes(12).toString('base64url')}` }) },
  });
}

/** The `amr` claim of an access token. */
export function amrOf(accessToken: string): string[] {
  return decodeJwt(accessToken).amr as string[];
}

/** Completes an MFA challenge. */
export function verifyChallenge(app: App, challenge: string, code: string) {
  return app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { challenge, code } });
}
