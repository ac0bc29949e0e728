/**
 * Threat: the limiter's store (Redis) failing. Ordinary routes must keep working (no 500s; unlimited until
 * Redis returns), while auth routes fail closed with 503 so a Redis outage never opens a brute-force window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let t: TestApp;
let redis: TestRedis;

beforeAll(async () => {
  redis = await createTestRedis();
  t = await buildTestApp({ redis, env: { RATE_LIMITS: 'auth=2/60,global=2/60' } });
  redis.client.disconnect(); // no reconnect: Redis stays "down" for this file
});
afterAll(async () => {
  await t?.close();
  // Nothing was written while it was down: no keys to remove, just let the client go.
  redis?.client.disconnect();
});

describe('rate limiting while Redis is down', () => {
  it('serves ordinary routes and 404s unlimited instead of failing them', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await t.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.80' })).statusCode).toBe(
        200,
      );
    }
    expect((await t.app.inject({ method: 'GET', url: '/nothing', remoteAddress: '192.0.2.80' })).statusCode).toBe(404);
  });

  it('answers 503 REDIS_UNAVAILABLE on auth routes', async () => {
    for (const url of ['/api/v1/auth/telegram', '/api/v1/auth/logout']) {
      const response = await t.app.inject({ method: 'POST', url, remoteAddress: '192.0.2.81', payload: {} });
      expect(response.statusCode).toBe(503);
      expect(response.json().error.code).toBe('REDIS_UNAVAILABLE');
    }
  });
});
