/**
 * Threat: an attacker spreads requests over API replicas, so a decision taken on one replica must hold on all
 * of them at once, and a lift must end it everywhere; a repeat offender must get longer decisions each time.
 * Two app instances share one database and one Redis prefix (one deployment, two processes); each keeps its
 * own decision cache, updated only through Redis pub/sub.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '#shared/api-keys/format.ts';
import { DECISION_RESYNC_MS } from '#shared/defense/decisions.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, type SignedIn, signIn, withSecondFactor } from '#test/helpers/sign-in.ts';
import { eventually } from './helpers.ts';

const ADMIN_TELEGRAM_ID = 555_000_003;
const ENV = {
  BOT_TOKEN: TEST_BOT_TOKEN,
  ADMIN_TELEGRAM_IDS: String(ADMIN_TELEGRAM_ID),
  // Key stuffing after 3 distinct bad keys, a first ban of 100 seconds.
  DEFENSE_SCENARIOS: 'api-key-stuffing=3/600/100',
};
let a: TestApp;
let b: TestApp;
let admin: SignedIn;

beforeAll(async () => {
  a = await buildTestApp({ env: ENV });
  b = await buildTestApp({ env: ENV, database: a.database, secrets: a.secrets, redisPrefix: a.redisPrefix });
  admin = await withSecondFactor(a, await signIn(a.app, { id: ADMIN_TELEGRAM_ID, first_name: 'Admin' }));
});
afterAll(async () => {
  await b.close();
  await a.close();
});

const me = (t: TestApp, ip: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url: '/api/v1/me', headers, remoteAddress: ip });

describe('decisions across two app instances', () => {
  it('a decision taken on one instance is enforced by the other within moments (pub/sub, not the resync)', async () => {
    const ip = '203.0.113.5';
    expect((await me(b, ip)).statusCode).toBe(401); // no credentials: not refused by a decision
    const started = Date.now();
    const issued = await a.app.inject({
      method: 'POST',
      url: '/api/v1/admin/decisions',
      headers: bearer(admin.accessToken),
      payload: { scope: 'ip', value: ip, kind: 'ban', seconds: 600, reason: 'MANUAL_BAN' },
    });
    expect(issued.statusCode).toBe(201);
    const decision = issued.json().decision as { id: string; automated: boolean; target: string };
    expect(decision).toMatchObject({ automated: false, target: 'ip4:203.0.113.x' });
    await eventually(async () => (await me(b, ip)).statusCode === 403);
    expect(Date.now() - started).toBeLessThan(DECISION_RESYNC_MS);
    expect((await me(b, '203.0.113.6')).statusCode).toBe(401);

    // Extended on B: A sees the new end.
    const extended = await b.app.inject({
      method: 'POST',
      url: `/api/v1/admin/decisions/${decision.id}/extend`,
      headers: bearer(admin.accessToken),
      payload: { seconds: 3600 },
    });
    expect(extended.statusCode).toBe(200);
    const newEnd = Date.parse(extended.json().decision.expiresAt);
    await eventually(() =>
      a.services.defense.decisions.cached().some((d) => d.id === decision.id && d.expiresAtMs === newEnd),
    );

    // Lifted on B: A stops refusing.
    const lifted = await b.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/decisions/${decision.id}`,
      headers: bearer(admin.accessToken),
    });
    expect(lifted.statusCode).toBe(204);
    await eventually(async () => (await me(a, ip)).statusCode === 401);
    const again = await b.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/decisions/${decision.id}`,
      headers: bearer(admin.accessToken),
    });
    expect(again.statusCode).toBe(404);
  });

  it('escalates for a repeat offender, whichever instance sees the attack', async () => {
    const ip = '203.0.113.9';
    const stuff = async (t: TestApp) => {
      for (let attempt = 0; attempt < 4; attempt += 1) await me(t, ip, { 'x-api-key': generateApiKey() });
    };
    const durationOf = (decision: { createdAt: string; expiresAt: string }) =>
      (Date.parse(decision.expiresAt) - Date.parse(decision.createdAt)) / 1000;
    const activeFor = async () => {
      const list = await a.app.inject({
        method: 'GET',
        url: '/api/v1/admin/decisions',
        headers: bearer(admin.accessToken),
      });
      return (
        list.json().decisions as {
          id: string;
          scenario: string;
          offenceLevel: number;
          createdAt: string;
          expiresAt: string;
        }[]
      ).filter((decision) => decision.scenario === 'api-key-stuffing');
    };

    await stuff(a); // the buckets are in Redis: half the attack on each instance counts the same
    const [first] = await activeFor();
    expect(first?.offenceLevel).toBe(0);
    expect(durationOf(first as never)).toBeGreaterThanOrEqual(90);
    expect(durationOf(first as never)).toBeLessThanOrEqual(110);
    await eventually(async () => (await me(b, ip)).statusCode === 403);
    await b.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/decisions/${first?.id}`,
      headers: bearer(admin.accessToken),
    });
    await eventually(async () => (await me(a, ip)).statusCode === 401);

    await stuff(b);
    const [second] = await activeFor();
    expect(second?.offenceLevel).toBe(1);
    expect(durationOf(second as never)).toBeGreaterThanOrEqual(180);
    expect(durationOf(second as never)).toBeLessThanOrEqual(220);
  });

  it('lets only admins list and change decisions, and checks the target', async () => {
    const person = await signIn(a.app, { id: nextTelegramId(), first_name: 'Pat' });
    const list = await a.app.inject({
      method: 'GET',
      url: '/api/v1/admin/decisions',
      headers: bearer(person.accessToken),
    });
    expect(list.statusCode).toBe(403);
    const bad = await a.app.inject({
      method: 'POST',
      url: '/api/v1/admin/decisions',
      headers: bearer(admin.accessToken),
      payload: { scope: 'user', value: '12345', kind: 'ban', seconds: 600, reason: 'MANUAL_BAN' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('DECISION_TARGET_INVALID');
  });
});
