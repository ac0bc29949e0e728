/**
 * Threat: one stolen admin account mints a second admin account (its own, under another name) and keeps
 * control after the first is noticed and removed. Through the API, making someone an admin is only a request:
 * every admin is told, the admin who asked cannot approve it, a different admin must approve it within 24 hours,
 * each approval works once, and every step (refusals and expiry too) is in the audit trail with its actor.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NotifyJob } from '#server/notify.ts';
import { type UserRole, users } from '#shared/db/schema.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { roleGrants } from '#shared/db/schema-role-grants.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signInAs } from '#test/helpers/sign-in.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=1000/60' } });
});
beforeEach(async () => {
  // Every test starts with no admin from earlier tests: "every admin" must mean this test's admins.
  await t.database.db.update(users).set({ role: 'user' }).where(eq(users.role, 'admin'));
  await t.queues.notify.obliterate({ force: true });
});
afterAll(async () => {
  await t.close();
});

/** Admin routes need a fresh second factor (tested in test/server/mfa/): recorded as step-up does. */
async function fresh(actor: SignedIn): Promise<{ authorization: string }> {
  await t.services.sessions.markSecondFactor(actor.sessionId, Math.floor(Date.now() / 1000));
  return bearer(actor.accessToken);
}

async function setRole(actor: SignedIn, targetUserId: string, role: UserRole) {
  return t.app.inject({
    method: 'PUT',
    url: `/api/v1/admin/users/${targetUserId}/role`,
    headers: await fresh(actor),
    payload: { role },
  });
}

async function decide(actor: SignedIn, grantId: string, decision: 'approve' | 'reject') {
  return t.app.inject({
    method: 'POST',
    url: `/api/v1/admin/role-grants/${grantId}/${decision}`,
    headers: await fresh(actor),
  });
}

async function roleOf(userId: string): Promise<UserRole | undefined> {
  const [row] = await t.database.db.select({ role: users.role }).from(users).where(eq(users.id, userId));
  return row?.role;
}

async function notifyJobs(): Promise<NotifyJob[]> {
  const jobs = await t.queues.notify.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
  return jobs.map((job) => job.data);
}

async function auditOf(action: string, targetId: string) {
  return t.database.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.targetId, targetId)));
}

/** Two admins and a user to promote; a request by the first. */
async function requested() {
  const first = await signInAs(t, 'admin');
  const second = await signInAs(t, 'admin');
  const target = await signInAs(t, 'user');
  const response = await setRole(first, target.userId, 'admin');
  expect(response.statusCode).toBe(202);
  const body = response.json() as { code: string; grantId: string; expiresAt: string };
  return { first, second, target, grantId: body.grantId, body };
}

describe('promoting to admin through the API', () => {
  it('only creates a request (202 APPROVAL_REQUIRED) announced to every admin; the role is unchanged', async () => {
    const { first, second, target, grantId, body } = await requested();
    expect(body.code).toBe('APPROVAL_REQUIRED');
    expect(grantId).toMatch(/^[0-9a-f-]{36}$/);
    const hours = (Date.parse(body.expiresAt) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);
    expect(await roleOf(target.userId)).toBe('user');

    const jobs = await notifyJobs();
    expect(jobs.filter((job) => job.kind === 'role-grant-requested')).toEqual(
      expect.arrayContaining([
        { kind: 'role-grant-requested', userId: first.userId, grantId },
        { kind: 'role-grant-requested', userId: second.userId, grantId },
      ]),
    );
    // Only admins are told of the request (not the person, not anyone else), and no role-changed notice yet.
    expect(jobs).toHaveLength(2);
    expect(JSON.stringify(jobs)).not.toContain(String(target.telegramId));

    const [entry] = await auditOf('admin.role_grant_requested', grantId);
    expect(entry).toMatchObject({
      actorType: 'user',
      actorId: first.userId,
      subjectUserId: target.userId,
      result: 'success',
      reasonCode: 'APPROVAL_REQUIRED',
      source: 'api',
    });
  });

  it('refuses a second request for the same person while one is pending (409 GRANT_PENDING)', async () => {
    const { second, target } = await requested();
    const again = await setRole(second, target.userId, 'admin');
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'GRANT_PENDING' } });
  });

  it('lists the pending request for admins', async () => {
    const { second, grantId, target, first } = await requested();
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/admin/role-grants', headers: await fresh(second) });
    expect(list.statusCode).toBe(200);
    const listed = (list.json() as { grants: { id: string }[] }).grants.find((grant) => grant.id === grantId);
    expect(listed).toMatchObject({
      userId: target.userId,
      requestedBy: first.userId,
      status: 'pending',
      decidedBy: null,
    });
  });

  it('demotion still applies at once (200), with no request', async () => {
    const admin = await signInAs(t, 'admin');
    const target = await signInAs(t, 'user');
    const response = await setRole(admin, target.userId, 'readonly');
    expect(response.statusCode).toBe(200);
    expect(await roleOf(target.userId)).toBe('readonly');
    const rows = await t.database.db.select().from(roleGrants).where(eq(roleGrants.targetUserId, target.userId));
    expect(rows).toEqual([]);
  });
});

describe('approving', () => {
  it('refuses the admin who asked (403 SELF_APPROVAL), audits the refusal and changes nothing', async () => {
    const { first, target, grantId } = await requested();
    const response = await decide(first, grantId, 'approve');
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'SELF_APPROVAL' } });
    expect(await roleOf(target.userId)).toBe('user');
    const [entry] = await auditOf('admin.role_grant_approved', grantId);
    expect(entry).toMatchObject({ actorId: first.userId, result: 'denied', reasonCode: 'SELF_APPROVAL' });
    const [row] = await t.database.db.select().from(roleGrants).where(eq(roleGrants.id, grantId));
    expect(row?.status).toBe('pending');
  });

  it('by a second admin: the role changes, every admin and the person are told, the steps are audited', async () => {
    const { first, second, target, grantId } = await requested();
    await t.queues.notify.obliterate({ force: true });
    const response = await decide(second, grantId, 'approve');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      id: grantId,
      userId: target.userId,
      status: 'approved',
      requestedBy: first.userId,
      decidedBy: second.userId,
    });
    expect(await roleOf(target.userId)).toBe('admin');
    // The person's existing session has the new role on its very next request.
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(target.accessToken) });
    expect(me.json()).toMatchObject({ user: { role: 'admin' } });

    const jobs = await notifyJobs();
    expect(jobs).toEqual(
      expect.arrayContaining([
        { kind: 'role-changed', userId: target.userId, role: 'admin' },
        { kind: 'role-grant-decided', userId: first.userId, grantId },
        { kind: 'role-grant-decided', userId: second.userId, grantId },
        // The new admin is one of "all admins" now, and is told of the outcome too.
        { kind: 'role-grant-decided', userId: target.userId, grantId },
      ]),
    );

    const [approved] = await auditOf('admin.role_grant_approved', grantId);
    expect(approved).toMatchObject({
      actorType: 'user',
      actorId: second.userId,
      subjectUserId: target.userId,
      result: 'success',
      reasonCode: 'TWO_PERSON_APPROVED',
      source: 'api',
    });
    const [change] = await auditOf('admin.role_change', target.userId);
    expect(change).toMatchObject({ actorId: second.userId, reasonCode: 'ROLE_GRANTED_ADMIN', result: 'success' });
  });

  it('works once: a replayed approval is refused (409 GRANT_NOT_PENDING)', async () => {
    const { second, grantId } = await requested();
    expect((await decide(second, grantId, 'approve')).statusCode).toBe(200);
    const replay = await decide(second, grantId, 'approve');
    expect(replay.statusCode).toBe(409);
    expect(replay.json()).toMatchObject({ error: { code: 'GRANT_NOT_PENDING' } });
    const third = await signInAs(t, 'admin');
    expect((await decide(third, grantId, 'approve')).statusCode).toBe(409);
  });

  it('two admins approving at the same moment: exactly one succeeds', async () => {
    const { second, grantId } = await requested();
    const third = await signInAs(t, 'admin');
    const [a, b] = await Promise.all([decide(second, grantId, 'approve'), decide(third, grantId, 'approve')]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 409]);
  });

  it('refuses a request that has expired (409 GRANT_EXPIRED) and audits the expiry', async () => {
    const { second, target, grantId } = await requested();
    await t.database.db
      .update(roleGrants)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(roleGrants.id, grantId));
    const response = await decide(second, grantId, 'approve');
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'GRANT_EXPIRED' } });
    expect(await roleOf(target.userId)).toBe('user');
    const [expired] = await auditOf('admin.role_grant_expired', grantId);
    expect(expired).toMatchObject({ actorType: 'system', result: 'success', reasonCode: 'EXPIRED' });
    const jobs = await notifyJobs();
    expect(jobs).toContainEqual({ kind: 'role-grant-decided', userId: second.userId, grantId });
    // A new request may follow once the old one has lapsed.
    expect((await setRole(second, target.userId, 'admin')).statusCode).toBe(202);
  });

  it('rejecting: the request is closed, audited, announced, and can no longer be approved', async () => {
    const { first, second, target, grantId } = await requested();
    const response = await decide(second, grantId, 'reject');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ status: 'rejected', decidedBy: second.userId });
    const [entry] = await auditOf('admin.role_grant_rejected', grantId);
    expect(entry).toMatchObject({ actorId: second.userId, result: 'success', reasonCode: 'REJECTED' });
    expect(await notifyJobs()).toContainEqual({ kind: 'role-grant-decided', userId: first.userId, grantId });
    const third = await signInAs(t, 'admin');
    expect((await decide(third, grantId, 'approve')).statusCode).toBe(409);
    expect(await roleOf(target.userId)).toBe('user');
  });

  it('is for admins only, with a fresh second factor', async () => {
    const { grantId } = await requested();
    const user = await signInAs(t, 'user');
    const denied = await decide(user, grantId, 'approve');
    expect(denied.statusCode).toBe(403);
    const stale = await signInAs(t, 'admin');
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/role-grants/${grantId}/approve`,
      headers: bearer(stale.accessToken),
    });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: expect.stringMatching(/STEP_UP|SECOND_FACTOR|MFA/) } });
  });

  it('answers 404 for an unknown request and 400 for a malformed id', async () => {
    const admin = await signInAs(t, 'admin');
    expect((await decide(admin, '00000000-0000-4000-8000-000000000000', 'approve')).statusCode).toBe(404);
    expect((await decide(admin, 'not-a-uuid', 'approve')).statusCode).toBe(400);
  });
});
