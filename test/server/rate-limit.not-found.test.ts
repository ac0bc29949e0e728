/**
 * Threat: scanning for hidden paths (or flooding) through URLs that match no route. The 404 handler is
 * rate-limited like any route, per address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp({ env: { RATE_LIMITS: 'global=3/60' } });
});
afterAll(async () => {
  await t?.close();
});

describe('404 handler', () => {
  it('is rate-limited per address', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await t.app.inject({ method: 'GET', url: `/wp-admin/${i}.php`, remoteAddress: '192.0.2.60' });
      expect(response.statusCode).toBe(404);
    }
    const limited = await t.app.inject({ method: 'GET', url: '/.env', remoteAddress: '192.0.2.60' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    const unmatchedApi = await t.app.inject({ method: 'GET', url: '/api/v1/nope', remoteAddress: '192.0.2.60' });
    expect(unmatchedApi.statusCode).toBe(429);
    expect((await t.app.inject({ method: 'GET', url: '/.env', remoteAddress: '192.0.2.61' })).statusCode).toBe(404);
  });
});
