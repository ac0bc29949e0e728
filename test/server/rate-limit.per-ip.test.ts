/**
 * Threat: one client exhausting the server (or guessing credentials) by sending requests as fast as it can.
 * Without a principal, requests are counted per client address; auth routes are counted before credentials
 * or bodies are checked, so a flood of bad sign-ins is limited too. Another address is not affected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';

let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=3/60,api=50/60,global=4/60' } });
});
afterAll(async () => {
  await t?.close();
});

describe('per-address rate limits', () => {
  it('limits /healthz per address and leaves other addresses alone', async () => {
    const hit = (remoteAddress: string) => t.app.inject({ method: 'GET', url: '/healthz', remoteAddress });
    for (let i = 0; i < 4; i++) expect((await hit('198.51.100.1')).statusCode).toBe(200);
    expect((await hit('198.51.100.1')).statusCode).toBe(429);
    expect((await hit('198.51.100.2')).statusCode).toBe(200);
  });

  it('limits an unauthenticated flood of bad sign-ins per address, before the body is checked', async () => {
    const signIn = (remoteAddress: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/telegram',
        remoteAddress,
        payload: { initData: 'user=%7B%7D&hash=00' },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await signIn('198.51.100.3')).statusCode);
    expect(statuses.slice(0, 3).every((status) => status !== 429)).toBe(true);
    expect(statuses.slice(3)).toEqual([429, 429]);
    // Malformed bodies (400 at validation) count as well: the limit runs in onRequest.
    for (let i = 0; i < 3; i++) {
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', remoteAddress: '198.51.100.4', payload: {} });
    }
    const after = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      remoteAddress: '198.51.100.4',
      payload: {},
    });
    expect(after.statusCode).toBe(429);
    expect((await signIn('198.51.100.5')).statusCode).not.toBe(429);
  });

  it('counts groups separately: a limited auth address can still reach /healthz', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '198.51.100.3' })).statusCode).toBe(
      200,
    );
  });
});
