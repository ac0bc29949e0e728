/**
 * Threat: a signed-in client (or an API key) hammering the API. API routes are counted per principal, not
 * per address: two people behind one NAT do not share a budget, and one person cannot escape theirs by
 * changing address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, signIn } from '#test/helpers/sign-in.ts';

let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=50/60,api=3/60,global=50/60' } });
});
afterAll(async () => {
  await t?.close();
});

describe('per-principal rate limits', () => {
  it('gives each signed-in user a budget of their own, whatever their address', async () => {
    const alice = await signIn(t.app, { id: nextTelegramId(), first_name: 'Alice' });
    const bob = await signIn(t.app, { id: nextTelegramId(), first_name: 'Bob' });
    const sessions = (token: string, remoteAddress: string) =>
      t.app.inject({ method: 'GET', url: '/api/v1/sessions', headers: bearer(token), remoteAddress });

    // Alice changes address on every request: still one budget.
    for (let i = 0; i < 3; i++) expect((await sessions(alice.accessToken, `203.0.113.${10 + i}`)).statusCode).toBe(200);
    const limited = await sessions(alice.accessToken, '203.0.113.99');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');

    // Bob shares Alice's first address (one NAT): his budget is untouched.
    expect((await sessions(bob.accessToken, '203.0.113.10')).statusCode).toBe(200);
  });

  it('runs after authentication: a request without credentials still gets 401, not a shared bucket', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/sessions', remoteAddress: '203.0.113.10' });
    expect(response.statusCode).toBe(401);
  });
});
