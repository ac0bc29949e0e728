/**
 * Threat: a second factor whose secret leaks from the database, whose backup codes work twice or survive a
 * regeneration, that an API key (or a backup code) can turn off or renew, or whose changes happen unseen.
 * The secret is sealed with the person's key, backup codes are stored as keyed hashes and used once,
 * regeneration needs a current TOTP, disabling needs a code and is audited and announced, and API keys cannot
 * manage the factor. With MFA on, creating an API key needs a fresh step-up.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NotifyJob } from '#server/notify.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { mfaBackupCodes, mfaFactors } from '#shared/db/schema-mfa.ts';
import { base32ToBytes } from '#shared/mfa/base32.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signInAs } from '#test/helpers/sign-in.ts';
import { codeNow, enrolViaApi, nextStep, useTestClock } from './mfa-helpers.ts';

let t: TestApp;
beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=10000/60,api=10000/60' } });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

const post = (person: SignedIn, url: string, payload?: unknown) =>
  t.app.inject({ method: 'POST', url, headers: bearer(person.accessToken), ...(payload ? { payload } : {}) });
const status = async (person: SignedIn) =>
  (await t.app.inject({ method: 'GET', url: '/api/v1/mfa', headers: bearer(person.accessToken) })).json() as {
    enabled: boolean;
    enrolledAt: string | null;
    backupCodesRemaining: number;
    pendingReset: unknown;
    lockedUntil: string | null;
  };

async function notices(userId: string): Promise<NotifyJob['kind'][]> {
  const jobs = await t.queues.notify.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
  return jobs.filter((job) => job.data.userId === userId).map((job) => job.data.kind);
}

async function actions(userId: string): Promise<string[]> {
  const rows = await t.database.db.select().from(auditLog).where(eq(auditLog.subjectUserId, userId));
  return rows.map((row) => `${row.action}:${row.result}`);
}

describe('enrolment', () => {
  it('starts with a secret, its otpauth URI and a PNG QR code, stored sealed and pending', async () => {
    const person = await signInAs(t, 'user');
    expect(await status(person)).toEqual({
      enabled: false,
      enrolledAt: null,
      backupCodesRemaining: 0,
      pendingReset: null,
      lockedUntil: null,
    });
    const response = await post(person, '/api/v1/mfa/enrolment');
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json() as { otpauthUri: string; secret: string; qrDataUrl: string };
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(body.otpauthUri);
    expect(uri.searchParams.get('secret')).toBe(body.secret);
    expect(uri.searchParams.get('issuer')).toBe('Telegram Security Platform');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Telegram Security Platform:${person.telegramId}`);
    expect(body.qrDataUrl.startsWith('data:image/png;base64,')).toBe(true);
    const png = Buffer.from(body.qrDataUrl.split(',')[1] ?? '', 'base64');
    expect(png.subarray(1, 4).toString()).toBe('PNG');

    const [row] = await t.database.db.select().from(mfaFactors).where(eq(mfaFactors.userId, person.userId));
    expect(row?.status).toBe('pending');
    // Sealed: neither the Base32 text nor the raw bytes appear in the stored column.
    const stored = Buffer.from(row?.secret ?? []);
    expect(stored.includes(Buffer.from(base32ToBytes(body.secret)))).toBe(false);
    expect(stored.toString('latin1')).not.toContain(body.secret);
    expect((await status(person)).enabled).toBe(false);
  });

  it('refuses a wrong first code, then enables with the right one and shows 10 backup codes once', async () => {
    const person = await signInAs(t, 'user');
    const { secret } = (await post(person, '/api/v1/mfa/enrolment')).json() as { secret: string };
    const wrong = await post(person, '/api/v1/mfa/enrolment/confirm', { code: '000000' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error: { code: 'SECOND_FACTOR_INVALID' } });
    const right = await post(person, '/api/v1/mfa/enrolment/confirm', { code: await codeNow(secret) });
    expect(right.statusCode).toBe(200);
    const { backupCodes } = right.json() as { backupCodes: string[] };
    expect(backupCodes).toHaveLength(10);
    const now = await status(person);
    expect(now).toMatchObject({ enabled: true, backupCodesRemaining: 10 });
    expect(now.enrolledAt).not.toBeNull();
    // Only keyed hashes are stored.
    const rows = await t.database.db.select().from(mfaBackupCodes).where(eq(mfaBackupCodes.userId, person.userId));
    expect(rows).toHaveLength(10);
    for (const row of rows) {
      expect(row.codeHash).toMatch(/^[0-9a-f]{64}$/);
      for (const code of backupCodes) expect(row.codeHash).not.toContain(code.replace('-', ''));
    }
    expect(await actions(person.userId)).toContain('mfa.enable:success');
    expect(await notices(person.userId)).toContain('mfa-enabled');
    // Enabled already: a second enrolment is refused rather than replacing the factor.
    expect((await post(person, '/api/v1/mfa/enrolment')).json()).toMatchObject({
      error: { code: 'MFA_ALREADY_ENABLED' },
    });
  });

  it('confirming without starting says what to do', async () => {
    const person = await signInAs(t, 'user');
    const response = await post(person, '/api/v1/mfa/enrolment/confirm', { code: '123456' });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'MFA_ENROLMENT_NOT_STARTED' } });
  });

  it('rejects malformed codes with 400 and the failing field', async () => {
    const person = await signInAs(t, 'user');
    for (const code of ['', '12', 'x'.repeat(40), '<script>']) {
      const response = await post(person, '/api/v1/mfa/enrolment/confirm', { code });
      expect(response.statusCode, code).toBe(400);
      expect(JSON.stringify(response.json())).toContain('code');
    }
  });
});

describe('backup codes', () => {
  it('work once each, and the remaining count goes down', async () => {
    const person = await signInAs(t, 'user');
    const { backupCodes } = await enrolViaApi(t.app, person);
    const code = backupCodes[3] ?? '';
    const first = await post(person, '/api/v1/auth/step-up', { code: code.toUpperCase() });
    expect(first.statusCode).toBe(200);
    expect((await status(person)).backupCodesRemaining).toBe(9);
    const again = await post(person, '/api/v1/auth/step-up', { code });
    expect(again.statusCode).toBe(401);
    expect((await status(person)).backupCodesRemaining).toBe(9);
    expect(await actions(person.userId)).toContain('mfa.backup_code_used:success');
  });

  it('regenerating needs a current TOTP (not a backup code) and voids the old set', async () => {
    const person = await signInAs(t, 'user');
    const { secret, backupCodes } = await enrolViaApi(t.app, person);
    const withBackup = await post(person, '/api/v1/mfa/backup-codes', { code: backupCodes[0] });
    expect(withBackup.statusCode).toBe(401);
    const fresh = await post(person, '/api/v1/mfa/backup-codes', { code: await codeNow(secret) });
    expect(fresh.statusCode).toBe(200);
    const next = (fresh.json() as { backupCodes: string[] }).backupCodes;
    expect(next).toHaveLength(10);
    expect(next.some((code) => backupCodes.includes(code))).toBe(false);
    expect((await post(person, '/api/v1/auth/step-up', { code: backupCodes[1] })).statusCode).toBe(401);
    expect((await post(person, '/api/v1/auth/step-up', { code: next[0] })).statusCode).toBe(200);
    expect(await notices(person.userId)).toContain('mfa-backup-codes-regenerated');
  });
});

describe('replay through the API', () => {
  it('a TOTP accepted once is refused the second time, even on another route', async () => {
    const person = await signInAs(t, 'user');
    const { secret } = await enrolViaApi(t.app, person);
    const code = await codeNow(secret);
    expect((await post(person, '/api/v1/auth/step-up', { code })).statusCode).toBe(200);
    expect((await post(person, '/api/v1/auth/step-up', { code })).statusCode).toBe(401);
    expect((await post(person, '/api/v1/mfa/backup-codes', { code })).statusCode).toBe(401);
    nextStep();
    expect((await post(person, '/api/v1/auth/step-up', { code: await codeNow(secret) })).statusCode).toBe(200);
  });
});

describe('disabling', () => {
  it('needs a valid code; then it is off, audited and announced', async () => {
    const person = await signInAs(t, 'user');
    const { secret } = await enrolViaApi(t.app, person);
    const wrong = await post(person, '/api/v1/mfa/disable', { code: '000000' });
    expect(wrong.statusCode).toBe(401);
    expect((await status(person)).enabled).toBe(true);
    const right = await post(person, '/api/v1/mfa/disable', { code: await codeNow(secret) });
    expect(right.statusCode).toBe(204);
    expect(await status(person)).toMatchObject({ enabled: false, backupCodesRemaining: 0 });
    expect(await actions(person.userId)).toEqual(
      expect.arrayContaining(['mfa.disable:failure', 'mfa.disable:success']),
    );
    expect(await notices(person.userId)).toContain('mfa-disabled');
    const rows = await t.database.db.select().from(mfaBackupCodes).where(eq(mfaBackupCodes.userId, person.userId));
    expect(rows).toHaveLength(0);
  });

  it('works with a backup code (lost phone, codes kept)', async () => {
    const person = await signInAs(t, 'user');
    const { backupCodes } = await enrolViaApi(t.app, person);
    expect((await post(person, '/api/v1/mfa/disable', { code: backupCodes[9] })).statusCode).toBe(204);
  });

  it('answers 409 when MFA is not on', async () => {
    const person = await signInAs(t, 'user');
    const response = await post(person, '/api/v1/mfa/disable', { code: '123456' });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'MFA_NOT_ENROLLED' } });
  });
});

describe('API keys and step-up', () => {
  it('an API key cannot enrol, confirm, disable or regenerate', async () => {
    const person = await signInAs(t, 'user');
    const { key } = await t.services.apiKeys.create({ userId: person.userId, name: 'script', source: 'api' });
    for (const url of ['/api/v1/mfa/enrolment', '/api/v1/mfa/disable', '/api/v1/mfa/backup-codes']) {
      const response = await t.app.inject({
        method: 'POST',
        url,
        headers: { 'x-api-key': key },
        payload: url.endsWith('enrolment') ? undefined : { code: '123456' },
      });
      expect(response.statusCode, url).toBe(400);
      expect(response.json()).toMatchObject({ error: { code: 'NOT_A_SESSION' } });
    }
  });

  it('with MFA on, creating an API key needs a fresh step-up; without MFA it does not', async () => {
    const plain = await signInAs(t, 'user');
    expect((await post(plain, '/api/v1/api-keys', { name: 'no mfa' })).statusCode).toBe(201);

    const person = await signInAs(t, 'user');
    const { secret } = await enrolViaApi(t.app, person);
    // A session from before: its second factor is not fresh.
    const other = await signInAs(t, 'user', { id: person.telegramId, first_name: 'Tester' }).catch(() => undefined);
    expect(other).toBeUndefined(); // signing in again now needs the code (MFA on)
    nextStep();
    nextStep();
    // The enrolling session's factor is 60 s old: still fresh.
    expect((await post(person, '/api/v1/api-keys', { name: 'fresh' })).statusCode).toBe(201);
    vi.setSystemTime(Date.now() + 11 * 60 * 1000);
    // The access token has expired by now: refresh (the session keeps its otp, but the check is 11 min old).
    const renewed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: person.refreshToken },
    });
    expect(renewed.statusCode).toBe(200);
    const later = { ...person, accessToken: (renewed.json() as { accessToken: string }).accessToken };
    const stale = await post(later, '/api/v1/api-keys', { name: 'stale' });
    expect(stale.statusCode).toBe(403);
    expect(stale.json()).toMatchObject({ error: { code: 'STEP_UP_REQUIRED' } });
    const stepUp = await post(later, '/api/v1/auth/step-up', { code: await codeNow(secret) });
    expect(stepUp.statusCode).toBe(200);
    const upgraded = { ...person, accessToken: (stepUp.json() as { accessToken: string }).accessToken };
    expect((await post(upgraded, '/api/v1/api-keys', { name: 'after step-up' })).statusCode).toBe(201);
  });
});
