/**
 * Threat: someone holding a signed-in session (a borrowed phone, a stolen token) performs a sensitive action
 * the owner would have to confirm. Routes that need a recent second factor refuse until the owner proves one
 * (POST /api/v1/auth/step-up), only for as long as the route's window, and never for an API key: a key has
 * no second factor to prove.
 */

import { and, eq } from 'drizzle-orm';
import Fastify, { type FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authPlugin } from '#server/plugins/auth.ts';
import { errorHandlerPlugin } from '#server/plugins/error-handler.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, type SignedIn, signIn } from '#test/helpers/sign-in.ts';
import { createTestFactor } from '#test/helpers/test-factor.ts';

const STEP_UP_WINDOW_SECONDS = 600;
const GUARDED = '/api/v1/guarded';
const factor = createTestFactor();

let t: TestApp;
/** The real auth plugin with the app's token signer, session store and API keys, and one guarded route. */
let guarded: FastifyInstance;
beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN }, secondFactor: factor });
  guarded = Fastify();
  await guarded.register(errorHandlerPlugin);
  await guarded.register(authPlugin, {
    signer: t.services.signer,
    sessions: t.services.sessions,
    apiKeys: t.services.apiKeys,
  });
  guarded.post(
    GUARDED,
    { config: { permission: 'profile:read', stepUpSeconds: STEP_UP_WINDOW_SECONDS } },
    async (request) => ({ done: true, via: request.principal?.kind }),
  );
  await guarded.ready();
});
afterAll(async () => {
  await guarded.close();
  await t.close();
});

async function callGuarded(headers: Record<string, string>) {
  const response = await guarded.inject({ method: 'POST', url: GUARDED, headers });
  return { status: response.statusCode, body: response.json() as { error?: { code: string; details?: unknown } } };
}

function stepUp(headers: Record<string, string>, code: string) {
  return t.app.inject({ method: 'POST', url: '/api/v1/auth/step-up', headers, payload: { code } });
}

/** A freshly signed-in person enrolled with `code`. */
async function enrolledPerson(code = '314159'): Promise<SignedIn> {
  const person = await signIn(t.app, { id: nextTelegramId(), first_name: 'Sam' });
  factor.enrol(person.userId, code);
  return person;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('a route that needs step-up', () => {
  it('refuses a session without a second factor with 403 STEP_UP_REQUIRED and the window', async () => {
    const person = await enrolledPerson();
    const response = await callGuarded(bearer(person.accessToken));
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({
      code: 'STEP_UP_REQUIRED',
      details: { maxAgeSeconds: STEP_UP_WINDOW_SECONDS },
    });
  });

  it('opens after a valid code: the new token says otp, and the route answers 200', async () => {
    const person = await enrolledPerson('271828');
    const response = await stepUp(bearer(person.accessToken), '271828');
    expect(response.statusCode).toBe(200);
    const { accessToken } = response.json() as { accessToken: string };
    const claims = decodeJwt(accessToken);
    expect(claims.amr).toEqual(expect.arrayContaining(['tg', 'otp']));
    expect(claims.sid).toBe(person.sessionId);
    expect(Math.abs(Number(claims.sf_time) - nowSeconds())).toBeLessThanOrEqual(2);
    expect(factor.checks.at(-1)).toEqual({ userId: person.userId, channel: 'api', result: 'ok' });

    const after = await callGuarded(bearer(accessToken));
    expect(after).toEqual({ status: 200, body: { done: true, via: 'user' } });

    const entries = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'auth.step_up'), eq(auditLog.actorId, person.userId)));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ result: 'success', source: 'api' });
  });

  it('stays closed after a wrong code (401), which is audited', async () => {
    const person = await enrolledPerson('141421');
    const response = await stepUp(bearer(person.accessToken), '000000');
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { code: 'SECOND_FACTOR_INVALID' } });
    expect((await callGuarded(bearer(person.accessToken))).status).toBe(403);
    const entries = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'auth.step_up'), eq(auditLog.actorId, person.userId)));
    expect(entries.map((entry) => [entry.result, entry.reasonCode])).toEqual([['failure', 'SECOND_FACTOR_INVALID']]);
  });

  it('does not accept another person’s code', async () => {
    await enrolledPerson('777777');
    const other = await enrolledPerson('888888');
    const response = await stepUp(bearer(other.accessToken), '777777');
    expect(response.statusCode).toBe(401);
    expect((await callGuarded(bearer(other.accessToken))).status).toBe(403);
  });

  it('answers 409 MFA_NOT_ENROLLED when the person has no second factor', async () => {
    const person = await signIn(t.app, { id: nextTelegramId(), first_name: 'Noel' });
    const response = await stepUp(bearer(person.accessToken), '123456');
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'MFA_NOT_ENROLLED' } });
    expect((await callGuarded(bearer(person.accessToken))).status).toBe(403);
  });

  it('answers 429 SECOND_FACTOR_LOCKED while locked out, even for the right code', async () => {
    const person = await enrolledPerson('161803');
    factor.lock(person.userId);
    const response = await stepUp(bearer(person.accessToken), '161803');
    expect(response.statusCode).toBe(429);
    expect(response.json()).toMatchObject({ error: { code: 'SECOND_FACTOR_LOCKED' } });
    expect((await callGuarded(bearer(person.accessToken))).status).toBe(403);
  });

  it('closes again once the second factor is older than the window', async () => {
    const person = await enrolledPerson();
    await t.services.sessions.markSecondFactor(person.sessionId, nowSeconds() - STEP_UP_WINDOW_SECONDS + 30);
    expect((await callGuarded(bearer(person.accessToken))).status).toBe(200);

    await t.services.sessions.markSecondFactor(person.sessionId, nowSeconds() - STEP_UP_WINDOW_SECONDS - 1);
    const stale = await callGuarded(bearer(person.accessToken));
    expect(stale.status).toBe(403);
    expect(stale.body.error?.code).toBe('STEP_UP_REQUIRED');
  });

  it('belongs to the session: another session of the same person still has to step up', async () => {
    const person = await enrolledPerson('999000');
    const otherDevice = await signIn(t.app, { id: person.telegramId, first_name: 'Sam' });
    expect((await stepUp(bearer(person.accessToken), '999000')).statusCode).toBe(200);
    expect((await callGuarded(bearer(otherDevice.accessToken))).status).toBe(403);
  });
});

describe('API keys', () => {
  it('never pass step-up, even when the owner has just proved a second factor', async () => {
    const owner = await enrolledPerson('246810');
    const { key } = await t.services.apiKeys.create({
      userId: owner.userId,
      name: 'ci',
      scopes: ['profile:read'],
      source: 'api',
    });
    expect((await stepUp(bearer(owner.accessToken), '246810')).statusCode).toBe(200);

    const withKey = await callGuarded({ 'x-api-key': key });
    expect(withKey.status).toBe(403);
    expect(withKey.body.error?.code).toBe('STEP_UP_REQUIRED');

    // The key cannot step up by itself either, and the factor is not even asked.
    const checksBefore = factor.checks.length;
    const attempt = await stepUp(bearer(key), '246810');
    expect(attempt.statusCode).toBe(400);
    expect(attempt.json()).toMatchObject({ error: { code: 'NOT_A_SESSION' } });
    expect(factor.checks).toHaveLength(checksBefore);
    expect((await callGuarded(bearer(key))).status).toBe(403);
  });
});
