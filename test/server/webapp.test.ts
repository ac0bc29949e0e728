/**
 * The Mini App is served under /app/ with hashed assets cached immutably, index.html never cached, deep
 * links falling back to the app, missing assets 404ing (never HTML served as a script), and a CSP that lets
 * only Telegram frame it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

let t: TestApp;
let notBuilt: TestApp;
beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsp-webapp-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(
    join(root, 'index.html'),
    '<!doctype html><div id="root"></div><script src="/app/assets/index-abc123.js"></script>',
  );
  writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log("app")');
  writeFileSync(join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  t = await buildTestApp({ webappRoot: root });
  notBuilt = await buildTestApp({ database: t.database, secrets: t.secrets, webappRoot: join(root, 'missing') });
});
afterAll(async () => {
  await notBuilt.close();
  await t.close();
});

describe('/app/', () => {
  it('serves index.html without caching', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/app/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/html/);
    expect(response.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(response.body).toContain('<div id="root">');
  });

  it('redirects /app to /app/', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/app' });
    expect(response.statusCode).toBe(301);
    expect(response.headers.location).toBe('/app/');
  });

  it('caches hashed assets for a year, immutably', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/app/assets/index-abc123.js' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(response.headers['content-type']).toMatch(/javascript/);
  });

  it('serves unhashed files without long caching', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/app/favicon.svg' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
  });

  it('falls back to index.html for client-side routes', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/app/settings/sessions?tab=1' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('<div id="root">');
    expect(response.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
  });

  it('404s a missing asset instead of returning HTML', async () => {
    for (const url of ['/app/assets/index-old.js', '/app/robots.txt']) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().error.code).toBe('NOT_FOUND');
    }
  });

  it('refuses path traversal out of the build folder', async () => {
    for (const url of ['/app/../package.json', '/app/%2e%2e/%2e%2e/package.json', '/app/..%2fpackage.json']) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.body, url).not.toContain('"dependencies"');
      expect([200, 400, 404], url).toContain(response.statusCode);
    }
  });

  it('lets only Telegram frame the app, and runs only its own scripts', async () => {
    const csp = String((await t.app.inject({ method: 'GET', url: '/app/' })).headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain('frame-ancestors https://web.telegram.org https://*.telegram.org');
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
  });

  it('says clearly when the Mini App is not built', async () => {
    const response = await notBuilt.app.inject({ method: 'GET', url: '/app/' });
    expect(response.statusCode).toBe(503);
    expect(response.json().error.code).toBe('WEBAPP_NOT_BUILT');
  });
});
