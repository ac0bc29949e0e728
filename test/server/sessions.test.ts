/**
 * Threat: a stolen token keeps working after its owner sees the unknown sign-in and ends it, or a person can
 * see, probe or end someone else's sessions. A session ended through the API stops its access token on the
 * very next request and its refresh token with it; another person's session id answers exactly like one
 * that does not exist; every ending is in the audit trail.
 */
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog } from '#shared/db/schema-audit.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, type SignedIn, signIn } from '#test/helpers/sign-in.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
afterAll(async () => {
  await t.close();
});

interface SessionView {
  id: string;
  client: string;
  ip: string;
  createdAt: string;
  lastSeenAt: string;
  current: boolean;
}

/** A person signed in on `count` devices (one session each). */
async function personWithSessions(count: number): Promise<SignedIn[]> {
  const user = { id: nextTelegramId(), first_name: 'Dana' };
  const sessions: SignedIn[] = [];
  for (let index = 0; index < count; index++) sessions.push(await signIn(t.app, user, { client: `device ${index}` }));
  return sessions;
}

async function listSessions(session: SignedIn): Promise<SessionView[]> {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/sessions', headers: bearer(session.accessToken) });
  expect(response.statusCode).toBe(200);
  return (response.json() as { sessions: SessionView[] }).sessions;
}

/** The status and error code of GET /api/v1/me with this session's access token. */
async function meWith(session: SignedIn): Promise<{ status: number; code: string | undefined }> {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(session.accessToken) });
  const body = response.json() as { error?: { code: string } };
  return { status: response.statusCode, code: body.error?.code };
}

async function auditEntries(action: string, subjectUserId: string) {
  return t.database.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.subjectUserId, subjectUserId)))
    .orderBy(auditLog.seq);
}

describe('listing', () => {
  it('shows every session of the caller, and flags the one making the request', async () => {
    const [phone, laptop] = await personWithSessions(2);
    if (!phone || !laptop) throw new Error('two sessions expected');
    const list = await listSessions(laptop);
    expect(list.map((session) => session.id).sort()).toEqual([phone.sessionId, laptop.sessionId].sort());
    expect(list.filter((session) => session.current).map((session) => session.id)).toEqual([laptop.sessionId]);
    const mine = list.find((session) => session.id === laptop.sessionId);
    expect(mine).toMatchObject({ client: 'Mini App · device 1', ip: '127.0.0.0/24' });
    expect(Date.parse(mine?.createdAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
  });

  it('never shows another person’s sessions', async () => {
    const [mine] = await personWithSessions(1);
    const [theirs] = await personWithSessions(1);
    if (!mine || !theirs) throw new Error('sessions expected');
    expect((await listSessions(mine)).map((session) => session.id)).toEqual([mine.sessionId]);
  });
});

describe('ending one session', () => {
  it('answers 204, and the ended session’s access token fails on its next request', async () => {
    const [phone, laptop] = await personWithSessions(2);
    if (!phone || !laptop) throw new Error('two sessions expected');
    expect(await meWith(phone)).toEqual({ status: 200, code: undefined });

    const response = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${phone.sessionId}`,
      headers: bearer(laptop.accessToken),
    });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');

    // The access token is still within its 10 minutes and correctly signed: only the session check stops it.
    expect(await meWith(phone)).toEqual({ status: 401, code: 'SESSION_REVOKED' });
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: phone.refreshToken },
    });
    expect(refresh.statusCode).toBe(401);
    expect(await meWith(laptop)).toEqual({ status: 200, code: undefined });
    expect((await listSessions(laptop)).map((session) => session.id)).toEqual([laptop.sessionId]);

    const [entry, ...more] = await auditEntries('session.revoke', laptop.userId);
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      actorType: 'user',
      actorId: laptop.userId,
      targetType: 'session',
      targetId: phone.sessionId,
      result: 'success',
      source: 'api',
    });
  });

  it('can end the session making the request', async () => {
    const [only] = await personWithSessions(1);
    if (!only) throw new Error('a session expected');
    const response = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${only.sessionId}`,
      headers: bearer(only.accessToken),
    });
    expect(response.statusCode).toBe(204);
    expect(await meWith(only)).toEqual({ status: 401, code: 'SESSION_REVOKED' });
  });

  it('answers 404, not 403, for someone else’s session, and leaves it working', async () => {
    const [attacker] = await personWithSessions(1);
    const [victim] = await personWithSessions(1);
    if (!attacker || !victim) throw new Error('sessions expected');
    const theirs = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${victim.sessionId}`,
      headers: bearer(attacker.accessToken),
    });
    const unknown = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${'0'.repeat(victim.sessionId.length)}`,
      headers: bearer(attacker.accessToken),
    });
    // Identical answers: whether an id exists cannot be learnt by trying it.
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json()).toEqual({ error: { code: 'SESSION_NOT_FOUND', message: 'No such session.' } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual(theirs.json());
    expect(await meWith(victim)).toEqual({ status: 200, code: undefined });
    expect(await auditEntries('session.revoke', victim.userId)).toEqual([]);
    expect(await auditEntries('session.revoke', attacker.userId)).toEqual([]);
  });
});

describe('ending many sessions', () => {
  it('revoke-others ends every other session and keeps the current one', async () => {
    const [current, second, third] = await personWithSessions(3);
    if (!current || !second || !third) throw new Error('three sessions expected');
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/sessions/revoke-others',
      headers: bearer(current.accessToken),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ revoked: 2 });
    expect(await meWith(current)).toEqual({ status: 200, code: undefined });
    expect(await meWith(second)).toEqual({ status: 401, code: 'SESSION_REVOKED' });
    expect(await meWith(third)).toEqual({ status: 401, code: 'SESSION_REVOKED' });
    expect((await listSessions(current)).map((session) => session.id)).toEqual([current.sessionId]);

    const [entry, ...more] = await auditEntries('session.revoke_others', current.userId);
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      actorId: current.userId,
      targetId: current.sessionId,
      reasonCode: 'COUNT_2',
      result: 'success',
    });
  });

  it('revoke-all ends every session, the current one included', async () => {
    const sessions = await personWithSessions(3);
    const [current] = sessions;
    if (!current) throw new Error('sessions expected');
    const response = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/sessions',
      headers: bearer(current.accessToken),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ revoked: 3 });
    for (const session of sessions) expect(await meWith(session)).toEqual({ status: 401, code: 'SESSION_REVOKED' });
    expect(await t.services.sessions.list(current.userId)).toEqual([]);

    const [entry, ...more] = await auditEntries('session.revoke_all', current.userId);
    expect(more).toEqual([]);
    expect(entry).toMatchObject({ actorId: current.userId, targetId: 'all', reasonCode: 'COUNT_3' });
  });

  it('does not touch another person’s sessions', async () => {
    const [mine] = await personWithSessions(1);
    const [theirs] = await personWithSessions(1);
    if (!mine || !theirs) throw new Error('sessions expected');
    await t.app.inject({ method: 'DELETE', url: '/api/v1/sessions', headers: bearer(mine.accessToken) });
    expect(await meWith(theirs)).toEqual({ status: 200, code: undefined });
  });
});

describe('session ids', () => {
  it('are opaque ids the audit trail and URLs accept (never starting with - or _)', async () => {
    // A base64url id starts with - or _ one time in 32: the audit trail refused those, failing sign-in with 500.
    const ids: string[] = [];
    for (let index = 0; index < 200; index++) {
      const { session } = await t.services.sessions.create({
        userId: randomUUID(),
        role: 'user',
        client: 'test',
        ip: '',
        amr: ['test'],
      });
      ids.push(session.id);
    }
    expect(ids.filter((id) => !/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
