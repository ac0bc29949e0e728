/**
 * Threat: a demoted person keeps their old powers until their tokens expire, a role change happens unseen,
 * or admins lock everyone out of administration (the last admin demoted, or two admins demoting each other
 * at the same moment). Role changes apply to the target's very next request, are audited, tell the person
 * in Telegram (a job carrying ids only), and always leave at least one admin.
 */
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NotifyJob } from '#server/notify.ts';
import { type UserRole, users } from '#shared/db/schema.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { ROLE_PERMISSIONS } from '#shared/identity/rbac.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signIn, signInAs } from '#test/helpers/sign-in.ts';

let t: TestApp;
beforeAll(async () => {
  // Many sign-ins from inject's one address: above the per-address auth limit (rate-limit.*.test.ts test it).
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=1000/60' } });
});
beforeEach(async () => {
  // Every test starts with no admin from earlier tests (they would keep the last-admin rule from applying).
  await t.database.db.update(users).set({ role: 'user' }).where(eq(users.role, 'admin'));
  await t.queues.notify.obliterate({ force: true });
});
afterAll(async () => {
  await t.close();
});

async function setRole(actor: SignedIn, targetUserId: string, role: UserRole) {
  // Admin routes need a fresh second factor (step-up, tested in test/server/mfa/): recorded as step-up does.
  await t.services.sessions.markSecondFactor(actor.sessionId, Math.floor(Date.now() / 1000));
  return t.app.inject({
    method: 'PUT',
    url: `/api/v1/admin/users/${targetUserId}/role`,
    headers: bearer(actor.accessToken),
    payload: { role },
  });
}

/**
 * The status and error code of a write route with this session: ending a session that does not exist, which
 * answers 404 to a caller allowed to write and changes nothing.
 */
async function writeWith(session: SignedIn): Promise<{ status: number; code: string | undefined }> {
  const response = await t.app.inject({
    method: 'DELETE',
    url: '/api/v1/sessions/no-such-session',
    headers: bearer(session.accessToken),
  });
  return { status: response.statusCode, code: (response.json() as { error?: { code: string } }).error?.code };
}

async function roleInDatabase(userId: string): Promise<UserRole | undefined> {
  const [row] = await t.database.db.select({ role: users.role }).from(users).where(eq(users.id, userId));
  return row?.role;
}

async function notifyJobs(): Promise<NotifyJob[]> {
  const jobs = await t.queues.notify.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
  return jobs.map((job) => job.data);
}

describe('granting and revoking', () => {
  it('applies to every session of the target on its very next request, without signing in again', async () => {
    const admin = await signInAs(t, 'admin');
    const phone = await signInAs(t, 'user');
    const laptop = await signIn(t.app, { id: phone.telegramId, first_name: 'Tester' });
    expect(await writeWith(phone)).toEqual({ status: 404, code: 'SESSION_NOT_FOUND' });

    const demote = await setRole(admin, phone.userId, 'readonly');
    expect(demote.statusCode).toBe(200);
    expect(demote.json()).toEqual({ id: phone.userId, role: 'readonly', changed: true });
    // The same, still unexpired access tokens: the session's role is what the check reads.
    expect(await writeWith(phone)).toEqual({ status: 403, code: 'PERMISSION_DENIED' });
    expect(await writeWith(laptop)).toEqual({ status: 403, code: 'PERMISSION_DENIED' });
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(laptop.accessToken) });
    expect(me.json()).toMatchObject({ user: { role: 'readonly' }, permissions: [...ROLE_PERMISSIONS.readonly] });

    expect((await setRole(admin, phone.userId, 'user')).statusCode).toBe(200);
    expect(await writeWith(phone)).toEqual({ status: 404, code: 'SESSION_NOT_FOUND' });

    // Granting admin needs a second admin (admin.role-grants.test.ts): once approved, the admin route opens at
    // once for the person's existing sessions as well.
    const request = await setRole(admin, phone.userId, 'admin');
    expect(request.statusCode).toBe(202);
    const second = await signInAs(t, 'admin');
    await t.services.sessions.markSecondFactor(second.sessionId, Math.floor(Date.now() / 1000));
    const approved = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/role-grants/${(request.json() as { grantId: string }).grantId}/approve`,
      headers: bearer(second.accessToken),
    });
    expect(approved.statusCode).toBe(200);
    const other = await signInAs(t, 'user');
    expect((await setRole(phone, other.userId, 'readonly')).statusCode).toBe(200);
    expect(await roleInDatabase(other.userId)).toBe('readonly');
  });

  it('audits the change and queues a Telegram notice that carries ids only', async () => {
    const admin = await signInAs(t, 'admin');
    const target = await signInAs(t, 'user');
    expect((await setRole(admin, target.userId, 'readonly')).statusCode).toBe(200);

    const entries = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'admin.role_change'), eq(auditLog.subjectUserId, target.userId)));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actorType: 'user',
      actorId: admin.userId,
      targetType: 'user',
      targetId: target.userId,
      result: 'success',
      reasonCode: 'ROLE_USER_TO_READONLY',
      source: 'api',
    });

    const jobs = await notifyJobs();
    expect(jobs).toEqual([{ kind: 'role-changed', userId: target.userId, role: 'readonly' }]);
    // No Telegram id, name or language in the queue: the worker looks them up.
    expect(JSON.stringify(jobs)).not.toContain(String(target.telegramId));
  });

  it('changes, audits and tells nothing when the role is already the one asked for', async () => {
    const admin = await signInAs(t, 'admin');
    const target = await signInAs(t, 'user');
    const response = await setRole(admin, target.userId, 'user');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ id: target.userId, role: 'user', changed: false });
    const entries = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'admin.role_change'), eq(auditLog.subjectUserId, target.userId)));
    expect(entries).toEqual([]);
    expect(await notifyJobs()).toEqual([]);
  });

  it('answers 404 for an unknown user', async () => {
    const admin = await signInAs(t, 'admin');
    const response = await setRole(admin, '00000000-0000-4000-8000-000000000000', 'readonly');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'USER_NOT_FOUND' } });
  });
});

describe('the last admin', () => {
  it('cannot demote themselves when alone (409 LAST_ADMIN), and stays an admin', async () => {
    const admin = await signInAs(t, 'admin');
    for (const role of ['user', 'readonly'] as const) {
      const response = await setRole(admin, admin.userId, role);
      expect(response.statusCode).toBe(409);
      expect(response.json()).toMatchObject({ error: { code: 'LAST_ADMIN' } });
    }
    expect(await roleInDatabase(admin.userId)).toBe('admin');
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(admin.accessToken) });
    expect(me.json()).toMatchObject({ user: { role: 'admin' } });
    expect(await notifyJobs()).toEqual([]);
  });

  it('cannot be demoted once every other admin is gone', async () => {
    const first = await signInAs(t, 'admin');
    const second = await signInAs(t, 'admin');
    expect((await setRole(first, second.userId, 'user')).statusCode).toBe(200);
    const response = await setRole(first, first.userId, 'user');
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'LAST_ADMIN' } });
    expect(await roleInDatabase(first.userId)).toBe('admin');
  });

  it('a blocked admin does not count as the other admin', async () => {
    const active = await signInAs(t, 'admin');
    const blocked = await signInAs(t, 'admin');
    await t.database.db.update(users).set({ status: 'blocked' }).where(eq(users.id, blocked.userId));
    const response = await setRole(active, active.userId, 'user');
    expect(response.statusCode).toBe(409);
    await t.database.db.update(users).set({ status: 'active' }).where(eq(users.id, blocked.userId));
  });
});

describe('admins demoting each other at the same moment', () => {
  it('with two admins: exactly one succeeds, and one admin remains', async () => {
    for (let round = 0; round < 5; round++) {
      await t.database.db.update(users).set({ role: 'user' }).where(eq(users.role, 'admin'));
      const a = await signInAs(t, 'admin');
      const b = await signInAs(t, 'admin');
      const [aDemotesB, bDemotesA] = await Promise.all([setRole(a, b.userId, 'user'), setRole(b, a.userId, 'user')]);
      const statuses = [aDemotesB.statusCode, bDemotesA.statusCode];
      expect(
        statuses.filter((status) => status === 200),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      const loser = aDemotesB.statusCode === 200 ? bDemotesA : aDemotesB;
      expect([403, 409]).toContain(loser.statusCode);
      const winner = aDemotesB.statusCode === 200 ? a : b;
      const admins = await t.database.db.select({ id: users.id }).from(users).where(eq(users.role, 'admin'));
      expect(admins.map((admin) => admin.id)).toEqual([winner.userId]);
    }
  });

  it('with more admins: a demoted admin cannot still act, so again exactly one succeeds', async () => {
    for (let round = 0; round < 5; round++) {
      await t.database.db.update(users).set({ role: 'user' }).where(eq(users.role, 'admin'));
      const a = await signInAs(t, 'admin');
      const b = await signInAs(t, 'admin');
      const bystander = await signInAs(t, 'admin');
      const [aDemotesB, bDemotesA] = await Promise.all([setRole(a, b.userId, 'user'), setRole(b, a.userId, 'user')]);
      const statuses = [aDemotesB.statusCode, bDemotesA.statusCode];
      expect(
        statuses.filter((status) => status === 200),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      const loser = aDemotesB.statusCode === 200 ? bDemotesA : aDemotesB;
      expect(loser.statusCode).toBe(403);
      const winner = aDemotesB.statusCode === 200 ? a : b;
      const admins = await t.database.db
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.role, 'admin'), inArray(users.id, [a.userId, b.userId, bystander.userId])));
      expect(admins.map((admin) => admin.id).sort()).toEqual([winner.userId, bystander.userId].sort());
    }
  });
});
