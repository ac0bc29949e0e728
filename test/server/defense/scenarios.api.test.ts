/**
 * Threat: automated attacks on the API: guessing second-factor codes, stuffing API keys, replaying captured
 * initData or refresh tokens, flooding past the rate limiter, walking the id space, and guessing until a
 * sign-in succeeds. Each scenario is driven through the real API; its decision is then enforced by the API
 * hook, admins are alerted (with buttons) and the targeted person is told.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '#shared/api-keys/format.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { defenseDecisions } from '#shared/db/schema-defense.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, signIn } from '#test/helpers/sign-in.ts';
import { createTestFactor } from '#test/helpers/test-factor.ts';
import { eventually, freshInitData, noticesOf, telegramSignIn } from './helpers.ts';

const ADMIN_TELEGRAM_ID = 555_000_001;
const factor = createTestFactor();
let t: TestApp;
let adminId: string;

beforeAll(async () => {
  t = await buildTestApp({
    env: {
      BOT_TOKEN: TEST_BOT_TOKEN,
      ADMIN_TELEGRAM_IDS: String(ADMIN_TELEGRAM_ID),
      // The API group allows 2 requests a minute here, so a flood is quick to make.
      RATE_LIMITS: 'api=2/60',
      DEFENSE_SCENARIOS: 'request-flood=3/60',
      // A monitoring probe's network: never decided against.
      DEFENSE_ALLOWLIST: '192.0.2.96/30',
    },
    secondFactor: factor,
  });
  adminId = (await signIn(t.app, { id: ADMIN_TELEGRAM_ID, first_name: 'Admin' })).userId;
});
afterAll(async () => {
  await t.close();
});

async function decisionsFor(scenario: string) {
  return t.database.db.select().from(defenseDecisions).where(eq(defenseDecisions.scenario, scenario));
}

describe('MFA code brute force', () => {
  it('locks the second factor out after repeated wrong codes, and only the second factor', async () => {
    const person = await signIn(t.app, { id: nextTelegramId(), first_name: 'Mo' });
    factor.enrol(person.userId, '271828');
    const stepUp = (code: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/step-up',
        headers: bearer(person.accessToken),
        remoteAddress: '192.0.2.11',
        payload: { code },
      });
    for (let attempt = 0; attempt < 5; attempt += 1) expect((await stepUp('000000')).statusCode).toBe(401);
    expect(await decisionsFor('mfa-bruteforce')).toHaveLength(0);
    expect((await stepUp('000001')).statusCode).toBe(401); // the sixth wrong code overflows the bucket

    const [decision] = await decisionsFor('mfa-bruteforce');
    expect(decision).toMatchObject({ kind: 'factor_lockout', scope: 'user', automated: true });
    expect(decision?.subjectUserId).toBe(person.userId);
    // Even the right code is refused now, before the factor is checked at all.
    const checksBefore = factor.checks.length;
    const locked = await stepUp('271828');
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error.code).toBe('SECOND_FACTOR_LOCKED_OUT');
    expect(factor.checks.length).toBe(checksBefore);
    // Everything else still works for the person.
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(person.accessToken) });
    expect(me.statusCode).toBe(200);

    // Admins are alerted with single-use buttons; the person is told.
    const alerts = await noticesOf(t, 'defense-decision');
    expect(alerts.some((job) => job.decisionId === decision?.id && job.userId === adminId)).toBe(true);
    expect(alerts.find((job) => job.decisionId === decision?.id)?.nonce).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const told = await noticesOf(t, 'defense-target');
    expect(told.some((job) => job.decisionId === decision?.id && job.userId === person.userId)).toBe(true);
    // The decision itself is in the audit trail.
    const [entry] = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'defense.decision_issued'), eq(auditLog.targetId, decision?.id ?? '')));
    expect(entry?.reasonCode).toBe('MFA_BRUTEFORCE');
  });
});

describe('API-key stuffing', () => {
  it('bans the source after many distinct bad keys, not after one key retried', async () => {
    const ip = '192.0.2.22';
    const me = (key: string, from = ip) =>
      t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { 'x-api-key': key }, remoteAddress: from });
    const oneKey = generateApiKey();
    for (let attempt = 0; attempt < 15; attempt += 1) expect((await me(oneKey)).statusCode).toBe(401);
    expect(await decisionsFor('api-key-stuffing')).toHaveLength(0);

    for (let attempt = 0; attempt < 10; attempt += 1) expect((await me(generateApiKey())).statusCode).toBe(401);
    const [decision] = await decisionsFor('api-key-stuffing');
    expect(decision).toMatchObject({ kind: 'ban', scope: 'ip', targetLabel: 'ip4:192.0.2.x' });

    const refused = await me(generateApiKey());
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('ACCESS_SUSPENDED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is unaffected.
    expect((await me(generateApiKey(), '192.0.2.23')).statusCode).toBe(401);
  });
});

describe('the allow-list', () => {
  it('never decides against an allow-listed network, whatever it sends', async () => {
    const before = (await decisionsFor('api-key-stuffing')).length;
    for (let attempt = 0; attempt < 15; attempt += 1) {
      const response = await t.app.inject({
        method: 'GET',
        url: '/api/v1/me',
        headers: { 'x-api-key': generateApiKey() },
        remoteAddress: '192.0.2.97',
      });
      expect(response.statusCode).toBe(401);
    }
    expect((await decisionsFor('api-key-stuffing')).length).toBe(before);
  });
});

describe('initData and refresh-token replay', () => {
  it('bans an address that replays initData', async () => {
    const ip = '192.0.2.33';
    const initData = freshInitData({ id: nextTelegramId(), first_name: 'Rita' });
    expect((await telegramSignIn(t, initData, ip)).statusCode).toBe(200);
    const replay = await telegramSignIn(t, initData, ip);
    expect(replay.json().error.code).toBe('INIT_DATA_REPLAYED');
    expect(await decisionsFor('token-replay')).toHaveLength(0); // one resend may be a flaky client
    await telegramSignIn(t, initData, ip);
    const [decision] = await decisionsFor('token-replay');
    expect(decision).toMatchObject({ kind: 'ban', scope: 'ip' });
    const fresh = await telegramSignIn(t, freshInitData({ id: nextTelegramId(), first_name: 'Ola' }), ip);
    expect(fresh.statusCode).toBe(403);
    expect(fresh.json().error.code).toBe('ACCESS_SUSPENDED');
  });

  it('counts refresh-token reuse the same way: replaying stolen tokens of several sessions', async () => {
    const ip = '192.0.2.34';
    const refresh = (token: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        remoteAddress: ip,
        payload: { refreshToken: token },
      });
    const before = (await decisionsFor('token-replay')).length;
    for (const name of ['Rex', 'Rae']) {
      const person = await signIn(t.app, { id: nextTelegramId(), first_name: name });
      expect((await refresh(person.refreshToken)).statusCode).toBe(200);
      // The rotated token comes back: reuse (the family is revoked, the owner told).
      expect((await refresh(person.refreshToken)).json().error.code).toBe('REFRESH_TOKEN_REUSED');
    }
    // The first reuse fills the bucket, the second overflows it.
    expect((await decisionsFor('token-replay')).length).toBe(before + 1);
    expect((await refresh('x'.repeat(40))).statusCode).toBe(403);
  });
});

describe('request flood', () => {
  it('throttles a caller who keeps going after 429s', async () => {
    const person = await signIn(t.app, { id: nextTelegramId(), first_name: 'Flo' });
    const call = () =>
      t.app.inject({
        method: 'GET',
        url: '/api/v1/sessions',
        headers: bearer(person.accessToken),
        remoteAddress: '192.0.2.44',
      });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 8; attempt += 1) statuses.push((await call()).statusCode);
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.slice(2).every((status) => status === 429)).toBe(true);
    // The rate limiter reports refusals without waiting: the decision lands a moment later.
    await eventually(async () => (await decisionsFor('request-flood')).length > 0);
    const [decision] = await decisionsFor('request-flood');
    expect(decision).toMatchObject({ kind: 'throttle', scope: 'user', subjectUserId: person.userId });
    const throttled = await call();
    expect(throttled.statusCode).toBe(429);
    expect(throttled.json().error.code).toBe('THROTTLED');
  });
});

describe('failures followed by a success', () => {
  it('alerts admins (and decides nothing)', async () => {
    const ip = '192.0.2.66';
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const bad = await telegramSignIn(t, `${freshInitData({ id: 1, first_name: 'X' })}0`, ip);
      expect(bad.statusCode).toBe(401);
    }
    expect(await noticesOf(t, 'defense-alert')).toHaveLength(0);
    const good = await telegramSignIn(t, freshInitData({ id: nextTelegramId(), first_name: 'Gus' }), ip);
    expect(good.statusCode).toBe(200);
    const alerts = await noticesOf(t, 'defense-alert');
    expect(alerts).toEqual([expect.objectContaining({ scenario: 'failures-then-success', userId: adminId })]);
    expect(await decisionsFor('failures-then-success')).toHaveLength(0);
    const [entry] = await t.database.db.select().from(auditLog).where(eq(auditLog.action, 'defense.alert'));
    expect(entry?.reasonCode).toBe('FAILURES_THEN_SUCCESS');
  });
});
