/**
 * Threat: a browser is talked into misusing our responses (framing for clickjacking, MIME sniffing JSON into
 * script, leaking URLs through Referer, caching personal data, downgrading to plain HTTP). Every response
 * carries the same precomputed header set; the Mini App alone may be framed, and only by Telegram.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TELEGRAM_FRAME_ANCESTORS, WEBAPP_CSP } from '#server/plugins/security-headers.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

let t: TestApp;
beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsp-headers-'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><div id="root"></div>');
  t = await buildTestApp({ webappRoot: root });
});
afterAll(async () => {
  await t.close();
});

const EVERYWHERE = {
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

describe('security headers', () => {
  it('sets the baseline on API, error and Mini App responses', async () => {
    for (const url of ['/healthz', '/api/v1/sessions', '/no-such-page', '/app/', '/openapi.json']) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.headers, url).toMatchObject(EVERYWHERE);
      expect(response.headers['permissions-policy'], url).toContain('camera=()');
      for (const feature of ['microphone', 'geolocation', 'payment', 'usb']) {
        expect(response.headers['permissions-policy'], url).toContain(`${feature}=()`);
      }
      expect(response.headers['x-request-id'], url).toMatch(/^[0-9a-f-]{36}$/);
      // Nothing that names the software or its version.
      expect(response.headers['x-powered-by'], url).toBeUndefined();
      expect(response.headers.server, url).toBeUndefined();
    }
  });

  it('lets nobody frame anything but the Mini App', async () => {
    for (const url of ['/healthz', '/api/v1/sessions', '/no-such-page', '/app?x=1']) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.headers['x-frame-options'], url).toBe('DENY');
      expect(response.headers['content-security-policy'], url).toContain("frame-ancestors 'none'");
      expect(response.headers['content-security-policy'], url).toContain("default-src 'none'");
    }
  });

  it('gives the Mini App a strict CSP that only Telegram may frame', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/app/' });
    expect(response.statusCode).toBe(200);
    const csp = response.headers['content-security-policy'];
    expect(csp).toBe(WEBAPP_CSP);
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain(`frame-ancestors ${TELEGRAM_FRAME_ANCESTORS.join(' ')}`);
    // X-Frame-Options would override frame-ancestors in old browsers and break Telegram Web.
    expect(response.headers['x-frame-options']).toBeUndefined();
  });

  it('never lets authenticated or /api/ responses be cached', async () => {
    const requests = [
      { url: '/api/v1/sessions', headers: {} },
      { url: '/api/v1/no-such-route', headers: {} },
      { url: '/healthz', headers: { authorization: 'Bearer x' } },
      { url: '/healthz', headers: { 'x-api-key': 'k' } },
    ];
    for (const { url, headers } of requests) {
      const response = await t.app.inject({ method: 'GET', url, headers });
      expect(response.headers['cache-control'], url).toBe('no-store');
    }
  });

  it('sends the root to the Mini App', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe('/app/');
  });
});
