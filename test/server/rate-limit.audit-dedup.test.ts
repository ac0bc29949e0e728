/**
 * Threat: a flood that fills the audit trail (one row per rejected request) and buries the events that
 * matter. A limited key is recorded once per window as `defense.rate_limited`, however many requests follow.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '#shared/audit/record.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, signIn } from '#test/helpers/sign-in.ts';

let t: TestApp;
const recorded: AuditRecord[] = [];

beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=20/60,api=2/60,global=2/60' } });
  t.services.audit.subscribe((record) => {
    if (record.action === 'defense.rate_limited') recorded.push(record);
  });
});
afterAll(async () => {
  await t?.close();
});

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not reached in time');
    await sleep(20);
  }
}

describe('rate-limit audit events', () => {
  it('records one event per address and window during a flood', async () => {
    const responses = await Promise.all(
      Array.from({ length: 30 }, () => t.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.70' })),
    );
    expect(responses.filter((response) => response.statusCode === 429)).toHaveLength(28);
    await until(() => recorded.length >= 1);
    await sleep(200); // give any duplicate the time to show up
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({
      actor: { type: 'anonymous', id: null },
      result: 'denied',
      reasonCode: 'RATE_LIMITED',
      source: 'api',
      ipPrefix: '192.0.2.0/24',
      target: { type: 'rate_limit_group', id: 'global' },
    });
    expect(recorded[0]?.requestId).toMatch(/^[0-9a-f-]{36}$/);

    // Another address is another key: one more event.
    for (let i = 0; i < 5; i++) await t.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.71' });
    await until(() => recorded.length >= 2);
    await sleep(200);
    expect(recorded).toHaveLength(2);
  });

  it('names the principal when a signed-in user is limited', async () => {
    const user = await signIn(t.app, { id: nextTelegramId(), first_name: 'Flood' });
    for (let i = 0; i < 6; i++) {
      await t.app.inject({ method: 'GET', url: '/api/v1/sessions', headers: bearer(user.accessToken) });
    }
    await until(() => recorded.some((record) => record.actor.type === 'user'));
    await sleep(200);
    const forUser = recorded.filter((record) => record.actor.type === 'user');
    expect(forUser).toHaveLength(1);
    expect(forUser[0]).toMatchObject({ actor: { type: 'user', id: user.userId }, target: { id: 'api' } });
  });
});
