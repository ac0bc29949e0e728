/**
 * Threat: guessing `state` values or one-time codes by volume. The OAuth callbacks and the external sign-in
 * routes are in the strict `auth` rate-limit group, counted per client address before anything else runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({
    env: {
      RATE_LIMITS: 'auth=3/60',
      PUBLIC_URL: 'https://sec.example.com',
      GITHUB_CLIENT_ID: 'client',
      GITHUB_CLIENT_SECRET: 'secret',
    },
  });
});
afterAll(async () => {
  await t?.close();
});

describe('OAuth rate limits', () => {
  it('limits callbacks per address (auth group): the 4th guess in a minute gets 429', async () => {
    const guess = (n: number) =>
      t.app.inject({ method: 'GET', url: `/api/v1/oauth/github/callback?code=c&state=${String(n).padStart(43, 'A')}` });
    for (let n = 0; n < 3; n++) expect((await guess(n)).statusCode).toBe(400);
    const limited = await guess(3);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    // Another address still gets through: the count is per client.
    const other = await t.app.inject({
      method: 'GET',
      url: `/api/v1/oauth/github/callback?state=${'B'.repeat(43)}`,
      remoteAddress: '198.51.100.7',
    });
    expect(other.statusCode).toBe(400);
  });

  it('counts the one-time code exchange in the same strict group', async () => {
    const redeem = (remoteAddress: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/oauth/token',
        payload: { code: 'guess', codeVerifier: 'v'.repeat(43) },
        remoteAddress,
      });
    for (let n = 0; n < 3; n++) expect((await redeem('203.0.113.9')).statusCode).toBe(400);
    expect((await redeem('203.0.113.9')).statusCode).toBe(429);
  });
});
