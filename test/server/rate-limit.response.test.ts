/**
 * Threat: clients that cannot tell a limit from a failure retry at once and make the flood worse. A limited
 * request gets 429 with our error shape, Retry-After and the IETF RateLimit headers; allowed requests carry
 * the RateLimit headers too, so well-behaved clients can slow down before they hit the limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp({ env: { RATE_LIMITS: 'global=2/30' } });
});
afterAll(async () => {
  await t?.close();
});

describe('429 response', () => {
  it('tells the client its budget on allowed requests', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.50' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['ratelimit-limit']).toBe('2');
    expect(response.headers['ratelimit-remaining']).toBe('1');
    expect(Number(response.headers['ratelimit-reset'])).toBeGreaterThan(0);
  });

  it('answers 429 RATE_LIMITED with Retry-After and RateLimit headers', async () => {
    await t.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.50' });
    const response = await t.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.50' });
    expect(response.statusCode).toBe(429);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json();
    expect(body).toEqual({ error: { code: 'RATE_LIMITED', message: expect.stringMatching(/^Too many requests/) } });
    const retryAfter = Number(response.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(response.headers['ratelimit-limit']).toBe('2');
    expect(response.headers['ratelimit-remaining']).toBe('0');
    expect(Number(response.headers['ratelimit-reset'])).toBe(retryAfter);
  });
});
