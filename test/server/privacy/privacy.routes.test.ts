/**
 * Threat: a person's data requests refused, mishandled or reachable by someone else; a download link that
 * outlives its purpose; erasure without the second factor a person set up. Through the real API: the policy
 * is public and script-free, consent gives a signed receipt, exports are downloadable through a short-lived
 * link only, erasure has a grace period and cancellation (step-up when MFA is on), and admins see and extend
 * the queue.
 */
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerInfo } from '#server/services.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { mfaFactors } from '#shared/db/schema-mfa.ts';
import { privacyRequests } from '#shared/db/schema-privacy.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signInAs, withSecondFactor } from '#test/helpers/sign-in.ts';

let t: TestApp;
let workers: RunningWorkers;
let user: SignedIn;
let other: SignedIn;
let admin: SignedIn;

beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, PRIVACY_CONTROLLER_NAME: 'Example <Ltd>' } });
  workers = await startWorkers({
    database: t.database,
    crypto: { ring: t.ring, userKeys: t.userKeys },
    audit: { signingKey: deriveAuditSigningKey(t.secrets.masterKey) },
    privacy: { controller: controllerInfo(t.config), dataDir: t.config.dataDir, sessions: t.services.sessions },
    logger: t.logger,
    connection: () => t.redis.createBullConnection(),
    redisPrefix: t.redisPrefix,
  });
  [user, other, admin] = [
    await signInAs(t, 'user'),
    await signInAs(t, 'user'),
    await withSecondFactor(t, await signInAs(t, 'admin')),
  ];
}, 180_000);
afterAll(async () => {
  await workers?.close();
  await t?.close();
});

const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, who?: SignedIn, payload?: object) =>
  t.app.inject({ method, url, ...(who ? { headers: bearer(who.accessToken) } : {}), ...(payload ? { payload } : {}) });

async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('privacy API', () => {
  it('serves the generated policy as HTML (no script, strict CSP) and as versioned JSON', async () => {
    const html = await call('GET', '/privacy');
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.headers['content-security-policy']).toContain("default-src 'none'");
    expect(html.body).toContain('Example &lt;Ltd&gt;');
    expect(html.body).not.toMatch(/<script|style=/i);
    const json = await call('GET', '/api/v1/privacy/policy');
    expect(json.statusCode).toBe(200);
    expect(json.json().version).toMatch(/^[0-9a-f]{16}$/);
    expect(html.headers.etag).toBe(`"${json.json().version}"`);
  });

  it('lists purposes and records consent with a signed receipt; essential purposes are not consent-based', async () => {
    const list = await call('GET', '/api/v1/privacy/consents', user);
    expect(list.statusCode).toBe(200);
    const analytics = list.json().purposes.find((p: { id: string }) => p.id === 'analytics');
    expect(analytics).toMatchObject({ granted: false, required: false, legalBasis: 'consent', grantedAt: null });
    const put = await call('PUT', '/api/v1/privacy/consents/analytics', user, { granted: true });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ id: 'analytics', granted: true });
    expect(put.json().receipt.split('.')).toHaveLength(3);
    expect((await call('PUT', '/api/v1/privacy/consents/security', user, { granted: false })).json().error.code).toBe(
      'PURPOSE_REQUIRED',
    );
    expect((await call('PUT', '/api/v1/privacy/consents/nope', user, { granted: true })).statusCode).toBe(404);
    expect((await call('PUT', '/api/v1/privacy/consents/analytics', user, { granted: 'yes' })).statusCode).toBe(400);
    expect((await call('GET', '/api/v1/privacy/consents')).statusCode).toBe(401);
  });

  it('handles objection, restriction and rectification as completed requests', async () => {
    expect((await call('PUT', '/api/v1/privacy/objections/security', user, { objected: true })).json().error.code).toBe(
      'OBJECTION_OVERRIDDEN',
    );
    const objection = await call('PUT', '/api/v1/privacy/objections/security_tips', user, { objected: true });
    expect(objection.json()).toMatchObject({ id: 'security_tips', objected: true, granted: false });
    const restriction = await call('PUT', '/api/v1/privacy/restriction', user, { restricted: true });
    expect(restriction.json()).toMatchObject({
      restricted: true,
      request: { kind: 'restriction', status: 'completed' },
    });
    await call('PUT', '/api/v1/privacy/restriction', user, { restricted: false });
    expect((await call('POST', '/api/v1/privacy/rectify', user, { languageCode: '<script>' })).statusCode).toBe(400);
    const rectified = await call('POST', '/api/v1/privacy/rectify', user, { languageCode: 'de' });
    expect(rectified.json().request).toMatchObject({ kind: 'rectification', status: 'completed' });
  });

  it('exports in the background and offers a short-lived download link that only its holder can use', async () => {
    const started = await call('POST', '/api/v1/privacy/export', user);
    expect(started.statusCode).toBe(202);
    expect(started.json().request).toMatchObject({ kind: 'access', status: 'pending', progress: 0, downloadUrl: null });
    const id = started.json().request.id as string;
    const due = new Date(started.json().request.dueAt).getTime() - new Date(started.json().request.createdAt).getTime();
    expect(due).toBeGreaterThanOrEqual(28 * 86_400_000);
    expect(due).toBeLessThanOrEqual(31 * 86_400_000);
    const done = await until(async () => {
      const list = (await call('GET', '/api/v1/privacy/requests', user)).json().requests as {
        id: string;
        status: string;
        downloadUrl: string | null;
      }[];
      const item = list.find((r) => r.id === id);
      return item?.status === 'completed' ? item : undefined;
    });
    expect(done.downloadUrl).toMatch(/\/api\/v1\/privacy\/exports\/[A-Za-z0-9_-]{40,}$/);
    const path = new URL(done.downloadUrl ?? '', 'http://x').pathname;
    const download = await call('GET', path);
    expect(download.statusCode).toBe(200);
    expect(download.headers['content-disposition']).toContain('attachment');
    expect(download.json().subject.userId).toBe(user.userId);
    expect((await call('GET', `${path}?format=html`)).body).toContain('<h1>Your data</h1>');
    // Only the hash is stored, and the link expires.
    const [row] = await t.database.db.select().from(privacyRequests).where(eq(privacyRequests.id, id));
    expect(row?.downloadTokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(done.downloadUrl).not.toContain(row?.downloadTokenHash ?? '-');
    await t.database.db
      .update(privacyRequests)
      .set({ downloadExpiresAt: new Date(Date.now() - 1000) })
      .where(eq(privacyRequests.id, id));
    expect((await call('GET', path)).json().error.code).toBe('DOWNLOAD_LINK_INVALID');
    expect((await call('GET', `/api/v1/privacy/exports/${'a'.repeat(43)}`)).statusCode).toBe(404);
    // Another person's list has no link to it.
    const others = (await call('GET', '/api/v1/privacy/requests', other)).json().requests;
    expect(others).toEqual([]);
  }, 30_000);

  it('schedules erasure with a grace period, lets only its owner cancel it, and refuses a second one', async () => {
    const erasure = await call('POST', '/api/v1/privacy/erasure', other);
    expect(erasure.statusCode).toBe(202);
    const request = erasure.json().request;
    expect(request).toMatchObject({ kind: 'erasure', status: 'scheduled' });
    expect(new Date(request.effectiveAt).getTime() - new Date(request.createdAt).getTime()).toBe(7 * 86_400_000);
    expect((await call('POST', '/api/v1/privacy/erasure', other)).json().error.code).toBe('REQUEST_IN_PROGRESS');
    expect((await call('DELETE', `/api/v1/privacy/requests/${request.id}`, user)).statusCode).toBe(404);
    expect((await call('DELETE', `/api/v1/privacy/requests/${request.id}`, other)).statusCode).toBe(204);
    expect((await call('DELETE', `/api/v1/privacy/requests/${request.id}`, other)).json().error.code).toBe(
      'REQUEST_NOT_CANCELLABLE',
    );
  });

  it('asks for a fresh second factor before erasure when MFA is on', async () => {
    await t.database.db
      .insert(mfaFactors)
      .values({ userId: user.userId, status: 'active', secret: randomBytes(40), enabledAt: new Date() });
    const refused = await call('POST', '/api/v1/privacy/erasure', user);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('STEP_UP_REQUIRED');
    expect(
      (await call('GET', '/api/v1/privacy/requests', user))
        .json()
        .requests.some((r: { kind: string }) => r.kind === 'erasure'),
    ).toBe(false);
  });

  it('shows admins the queue with deadlines and lets them extend with a reason', async () => {
    expect((await call('GET', '/api/v1/admin/privacy/requests', user)).statusCode).toBe(403);
    const pending = await t.services.privacy.requestExport({ userId: admin.userId, source: 'api' });
    const queue = await call('GET', '/api/v1/admin/privacy/requests', admin);
    expect(queue.statusCode).toBe(200);
    expect(
      queue.json().requests.some((r: { id: string; overdue: boolean }) => r.id === pending.id && r.overdue === false),
    ).toBe(true);
    const url = `/api/v1/admin/privacy/requests/${pending.id}/extend`;
    expect((await call('POST', url, admin, { months: 3, reason: 'Long enough reason' })).statusCode).toBe(400);
    expect((await call('POST', url, admin, { months: 1, reason: 'short' })).statusCode).toBe(400);
    const extended = await call('POST', url, admin, { months: 2, reason: 'Very large history to assemble' });
    expect(extended.statusCode).toBe(200);
    expect(extended.json().request.extendedUntil).not.toBeNull();
    expect((await call('POST', url, admin, { months: 1, reason: 'Trying to shorten it' })).json().error.code).toBe(
      'EXTENSION_NOT_ALLOWED',
    );
    const record = await call('GET', '/api/v1/admin/privacy/processing-record', admin);
    expect(record.json().activities.length).toBeGreaterThan(2);
    const retention = await call('GET', '/api/v1/admin/privacy/retention', admin);
    expect(retention.json()).toMatchObject({ dryRun: true });
  });
});
