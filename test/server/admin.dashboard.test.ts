/**
 * Threat: the admin dashboard exposes who has which role and the whole audit trail. A user, an admin session
 * without a fresh second factor (a stolen or borrowed session), or a crafted query must not read it; an admin
 * who stepped up sees real data, and the chain verification reports an intact trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signInAs } from '#test/helpers/sign-in.ts';
import { createTestFactor } from '#test/helpers/test-factor.ts';

const factor = createTestFactor();
let t: TestApp;
let admin: SignedIn;
let user: SignedIn;
let adminToken = '';

beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN }, secondFactor: factor });
  admin = await signInAs(t, 'admin');
  user = await signInAs(t, 'user');
  factor.enrol(admin.userId, '246810');
}, 180_000);
afterAll(async () => {
  await t?.close();
});

const READS = ['/api/v1/admin/users', '/api/v1/admin/audit', '/api/v1/admin/audit/verification'];

describe('admin dashboard reads', () => {
  it('refuse a user (403 PERMISSION_DENIED) and an anonymous caller (401)', async () => {
    for (const url of READS) {
      const refused = await t.app.inject({ method: 'GET', url, headers: bearer(user.accessToken) });
      expect(refused.statusCode, url).toBe(403);
      expect(refused.json().error.code).toBe('PERMISSION_DENIED');
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    }
  });

  it('refuse an admin session without a recent step-up', async () => {
    for (const url of READS) {
      const refused = await t.app.inject({ method: 'GET', url, headers: bearer(admin.accessToken) });
      expect(refused.statusCode, url).toBe(403);
      expect(refused.json().error.code).toBe('STEP_UP_REQUIRED');
    }
  });

  it('serve an admin after step-up: users with roles, audit search, an intact chain', async () => {
    const stepUp = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/step-up',
      headers: bearer(admin.accessToken),
      payload: { code: '246810' },
    });
    expect(stepUp.statusCode).toBe(200);
    adminToken = stepUp.json().accessToken;

    const users = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: bearer(adminToken) });
    expect(users.statusCode).toBe(200);
    const body = users.json() as { total: number; users: { id: string; role: string; telegramId: number | null }[] };
    expect(body.total).toBe(2);
    expect(body.users.find((u) => u.id === admin.userId)?.role).toBe('admin');
    expect(body.users.find((u) => u.id === user.userId)?.role).toBe('user');
    // Stored sealed with each person's key: the list opens them.
    expect(body.users.find((u) => u.id === user.userId)?.telegramId).toBe(user.telegramId);
    expect(body.users.find((u) => u.id === admin.userId)?.telegramId).toBe(admin.telegramId);
    const admins = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/users?role=admin',
      headers: bearer(adminToken),
    });
    expect((admins.json() as { users: { id: string }[] }).users.map((u) => u.id)).toEqual([admin.userId]);

    const audit = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/audit?action=auth.&limit=100',
      headers: bearer(adminToken),
    });
    expect(audit.statusCode).toBe(200);
    const entries = (audit.json() as { entries: { seq: number; action: string }[] }).entries;
    expect(entries.length).toBeGreaterThanOrEqual(3); // two logins and a step-up at least
    expect(entries.every((e) => e.action.startsWith('auth.'))).toBe(true);
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((a, b) => b - a));
    const exact = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/audit?action=auth.step_up&userId=${admin.userId}`,
      headers: bearer(adminToken),
    });
    expect((exact.json() as { entries: { action: string }[] }).entries.map((e) => e.action)).toContain('auth.step_up');

    const verification = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/audit/verification',
      headers: bearer(adminToken),
    });
    expect(verification.statusCode).toBe(200);
    const v = verification.json() as { ok: boolean; checked: number; firstBroken: unknown };
    expect(v.ok).toBe(true);
    expect(v.checked).toBeGreaterThanOrEqual(entries.length);
    expect(v.firstBroken).toBeNull();
  });

  it('refuse crafted queries with 400 (no LIKE wildcards, bounded pages)', async () => {
    for (const url of [
      '/api/v1/admin/audit?action=%25',
      '/api/v1/admin/audit?action=auth._%25',
      '/api/v1/admin/audit?limit=1000',
      '/api/v1/admin/audit?userId=not-a-uuid',
      '/api/v1/admin/users?role=root',
      '/api/v1/admin/users?limit=0',
    ]) {
      const response = await t.app.inject({ method: 'GET', url, headers: bearer(adminToken) });
      expect(response.statusCode, url).toBe(400);
    }
  });
});
