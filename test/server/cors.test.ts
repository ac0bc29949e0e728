/**
 * Threat: a page on another site calls the API from a victim's browser and reads the answer. Only origins
 * listed in CORS_ORIGINS may: nothing else is reflected (no `null`, no suffix or subdomain look-alikes), no
 * unlisted origin is told credentials are allowed, and preflights are answered for listed origins only. A
 * preflight is an ordinary request to the rate limiter: a flood of them from a listed Origin (any client can send
 * that header) is limited like any other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

const LISTED = 'https://app.example.com';
const SECOND = 'http://localhost:5173';
const UNLISTED = [
  'https://evil.com',
  'null',
  'https://app.example.com.evil.com',
  'https://evilapp.example.com',
  'https://sub.app.example.com',
  'http://app.example.com', // scheme matters
  'https://app.example.com:8443', // port matters
  'https://APP.example.com',
  'https://app.example.com/',
  '*',
];

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { CORS_ORIGINS: `${LISTED}, ${SECOND}` } });
});
afterAll(async () => {
  await t.close();
});

function preflight(origin: string) {
  return t.app.inject({
    method: 'OPTIONS',
    url: '/api/v1/sessions',
    headers: {
      origin,
      'access-control-request-method': 'DELETE',
      'access-control-request-headers': 'authorization, content-type',
    },
  });
}

describe('CORS allow-list', () => {
  it('answers a listed origin with that origin and credentials', async () => {
    for (const origin of [LISTED, SECOND]) {
      const response = await t.app.inject({ method: 'GET', url: '/healthz', headers: { origin } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['access-control-allow-origin']).toBe(origin);
      expect(response.headers['access-control-allow-credentials']).toBe('true');
      expect(response.headers.vary).toMatch(/origin/i);
    }
  });

  it('answers the preflight of a listed origin', async () => {
    const response = await preflight(LISTED);
    expect(response.statusCode).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(LISTED);
    expect(response.headers['access-control-allow-credentials']).toBe('true');
    expect(response.headers['access-control-allow-methods']).toContain('DELETE');
    expect(response.headers['access-control-allow-headers']).toBe('authorization, content-type, x-api-key');
    expect(Number(response.headers['access-control-max-age'])).toBeGreaterThan(0);
  });

  it('sends no CORS headers to an unlisted, null or look-alike origin', async () => {
    for (const origin of UNLISTED) {
      const response = await t.app.inject({ method: 'GET', url: '/healthz', headers: { origin } });
      expect(response.statusCode, origin).toBe(200);
      expect(response.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(response.headers['access-control-allow-credentials'], origin).toBeUndefined();
    }
  });

  it('does not answer the preflight of an unlisted origin', async () => {
    for (const origin of UNLISTED) {
      const response = await preflight(origin);
      expect(response.statusCode, origin).toBe(404);
      expect(response.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(response.headers['access-control-allow-credentials'], origin).toBeUndefined();
      expect(response.headers['access-control-allow-methods'], origin).toBeUndefined();
    }
  });

  it('sends no CORS headers to a request without Origin (same-origin or not a browser)', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('refuses an OPTIONS request from a listed origin that names no method (not a preflight)', async () => {
    for (const headers of [{ origin: LISTED }, { origin: LISTED, 'access-control-request-method': '' }]) {
      const response = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/sessions', headers });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('INVALID_PREFLIGHT');
      expect(response.headers['access-control-allow-methods']).toBeUndefined();
    }
  });

  it('counts preflights in the rate limit, and a 429 still carries the listed origin', async () => {
    const limited = await buildTestApp({
      database: t.database,
      secrets: t.secrets,
      env: { CORS_ORIGINS: LISTED, RATE_LIMITS: 'global=3/60' },
    });
    try {
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof limited.app.inject>> | undefined;
      for (let i = 0; i < 5; i++) {
        last = await limited.app.inject({
          method: 'OPTIONS',
          url: `/no-such-path-${i}`,
          headers: { origin: LISTED, 'access-control-request-method': 'GET' },
        });
        statuses.push(last.statusCode);
      }
      expect(statuses).toEqual([204, 204, 204, 429, 429]);
      expect(last?.json().error.code).toBe('RATE_LIMITED');
      expect(last?.headers['retry-after']).toBeDefined();
      expect(last?.headers['access-control-allow-origin']).toBe(LISTED);
    } finally {
      await limited.close();
    }
  });

  it('allows only PUBLIC_URL by default', async () => {
    const other = await buildTestApp({
      database: t.database,
      secrets: t.secrets,
      env: { PUBLIC_URL: 'https://bot.example.org/base' },
    });
    try {
      const listed = await other.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { origin: 'https://bot.example.org' },
      });
      expect(listed.headers['access-control-allow-origin']).toBe('https://bot.example.org');
      const unlisted = await other.app.inject({ method: 'GET', url: '/healthz', headers: { origin: LISTED } });
      expect(unlisted.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});
