/**
 * Threat: the metrics endpoint as a data leak (open to anyone, or carrying user ids, Telegram ids, addresses or
 * key prefixes in its labels, where every scraper and dashboard keeps them forever) or as a cardinality bomb
 * (a label per raw URL). /metrics answers only METRICS_TOKEN or an admin; labels are closed sets and route
 * patterns. The admin overview's KPIs are computed from the audit trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, type SignedIn, signIn, withSecondFactor } from '#test/helpers/sign-in.ts';
import { freshInitData, telegramSignIn } from '../defense/helpers.ts';

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789abcdef';
const ADMIN_TELEGRAM_ID = 555_000_006;
const CLIENT_IP = '198.51.100.99';
let t: TestApp;
let admin: SignedIn;
let person: SignedIn;
let apiKey: string;

beforeAll(async () => {
  t = await buildTestApp({
    env: { BOT_TOKEN: TEST_BOT_TOKEN, ADMIN_TELEGRAM_IDS: String(ADMIN_TELEGRAM_ID), METRICS_TOKEN },
  });
  admin = await withSecondFactor(t, await signIn(t.app, { id: ADMIN_TELEGRAM_ID, first_name: 'Admin' }));
  person = await signIn(t.app, { id: nextTelegramId(), first_name: 'Pia' });
  const created = await t.app.inject({
    method: 'POST',
    url: '/api/v1/api-keys',
    headers: bearer(person.accessToken),
    payload: { name: 'ci' },
  });
  expect(created.statusCode).toBe(201);
  apiKey = created.json().key as string;
  // Traffic that touches every kind of personal value: sign-in from an address, a failed one, an API key,
  // a path with a session id, an intrusion-detection decision about the person.
  expect((await telegramSignIn(t, `${freshInitData({ id: 1, first_name: 'X' })}0`, CLIENT_IP)).statusCode).toBe(401);
  await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { 'x-api-key': apiKey }, remoteAddress: CLIENT_IP });
  await t.app.inject({
    method: 'DELETE',
    url: `/api/v1/sessions/${person.sessionId}-nope`,
    headers: bearer(person.accessToken),
    remoteAddress: CLIENT_IP,
  });
  await t.services.defense.issueManual(
    { target: { scope: 'user', value: person.userId }, kind: 'throttle', seconds: 600, reason: 'TEST' },
    { actorUserId: admin.userId, source: 'api' },
  );
});
afterAll(async () => {
  await t.close();
});

const scrape = (headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: '/metrics', headers });

describe('GET /metrics', () => {
  it('answers the metrics token and admins only', async () => {
    expect((await scrape()).statusCode).toBe(401);
    expect((await scrape(bearer(`${METRICS_TOKEN}x`))).statusCode).toBe(401);
    expect((await scrape(bearer(person.accessToken))).statusCode).toBe(403);
    expect((await scrape({ 'x-api-key': apiKey })).statusCode).toBe(401);
    const byToken = await scrape(bearer(METRICS_TOKEN));
    expect(byToken.statusCode).toBe(200);
    expect(byToken.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect((await scrape(bearer(admin.accessToken))).statusCode).toBe(200);
  });

  it('carries no personal data in any label', async () => {
    const text = (await scrape(bearer(METRICS_TOKEN))).body;
    const labelValues = [...text.matchAll(/[a-z_]+="((?:[^"\\]|\\.)*)"/g)].map(([, value]) => value ?? '');
    expect(labelValues.length).toBeGreaterThan(20);
    const personal = [
      admin.userId,
      person.userId,
      person.sessionId,
      String(ADMIN_TELEGRAM_ID),
      String(person.telegramId),
      CLIENT_IP,
      '198.51.100',
      apiKey.slice(0, 12),
      apiKey.slice(-4),
    ];
    for (const value of labelValues) {
      for (const secret of personal) expect(value).not.toContain(secret);
    }
    // Nor anywhere else in the text. A numeric id is looked for as a whole number: the digits of a float sum
    // (0.0128000000001) may spell it by chance.
    for (const secret of personal) {
      if (/^\d+$/.test(secret)) expect(text).not.toMatch(new RegExp(`(?<![\\d.])${secret}(?!\\d)`));
      else expect(text).not.toContain(secret);
    }
  });

  it('reports the metrics the issue names, with route patterns rather than URLs', async () => {
    const text = (await scrape(bearer(METRICS_TOKEN))).body;
    expect(text).toMatch(/tsp_auth_attempts_total\{method="telegram",result="failure"\} 1/);
    expect(text).toMatch(/tsp_auth_attempts_total\{method="telegram",result="success"\} [2-9]/);
    expect(text).toMatch(/tsp_auth_attempts_total\{method="api_key",result="success"\} 1/);
    expect(text).toMatch(/tsp_decisions_active\{scenario="manual",kind="throttle",scope="user"\} 1/);
    expect(text).toMatch(/tsp_queue_depth\{queue="notify",state="waiting"\} \d+/);
    expect(text).toMatch(
      /tsp_http_request_duration_seconds_bucket\{le="[0-9.]+",method="DELETE",route="\/api\/v1\/sessions\/:id",status_code="404"\}/,
    );
    expect(text).toMatch(/tsp_scan_findings|# HELP tsp_scan_findings/);
    expect(text).toMatch(/# TYPE tsp_dsr_overdue gauge/);
    expect(text).toMatch(/# TYPE tsp_retention_rows_removed_total counter/);
    expect(text).toMatch(/# TYPE tsp_webhook_rejections_total counter/);
    expect(text).toMatch(/# TYPE tsp_mfa_verifications_total counter/);
  });
});

describe('GET /api/v1/admin/security/overview', () => {
  it('computes the KPIs from the data', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/security/overview',
      headers: bearer(admin.accessToken),
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    // Two successful sign-ins (admin, person) and one failed: 2/3 and 1/3.
    expect(body.kpis.authSuccessRate).toBeCloseTo(2 / 3, 3);
    expect(body.kpis.failedLoginRate).toBeCloseTo(1 / 3, 3);
    expect(body.kpis.dsrOnTimeRate).toBeNull(); // no data subject requests yet
    expect(body.kpis.highRiskFindings).toBe(0);
    expect(body.activeDecisions).toBe(1);
    expect(body.eventsByHour).toHaveLength(24);
    const last = body.eventsByHour.at(-1) as { count: number; failures: number };
    expect(last.count).toBeGreaterThanOrEqual(3);
    expect(last.failures).toBeGreaterThanOrEqual(1);
  });

  it('is for admins only', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/security/overview',
      headers: bearer(person.accessToken),
    });
    expect(response.statusCode).toBe(403);
  });
});
