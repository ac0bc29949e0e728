/**
 * The callback pages are what a person sees in their browser after the provider: they must render, say what
 * happened and what to do next, and run under the API's strict CSP (`default-src 'none'`) without a single
 * violation: no inline script or style to allow, nothing loaded. This runs the whole link in a real Chromium:
 * our authorization URL → the GitHub stand-in (login and consent) → our listening server's callback page. It
 * also renders an error page, and saves screenshots to test-results/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { type ProviderStandIn, startProviderStandIn, testRedirectUri } from '#test/helpers/oauth-providers.ts';
import { bearer, nextTelegramId, signIn } from '#test/helpers/sign-in.ts';

const SCREENSHOTS = join(fileURLToPath(new URL('../../..', import.meta.url)), 'test-results', 'screenshots');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let t: TestApp;
let github: ProviderStandIn;
let browser: Browser;
let publicUrl: string;

beforeAll(async () => {
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  github = await startProviderStandIn('github', { redirectUris: [testRedirectUri('github', publicUrl)] });
  t = await buildTestApp({
    env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=1000/60', PUBLIC_URL: publicUrl, ...github.env },
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  await github?.close();
});

async function openPage(url: string, screenshot: string) {
  const context = await browser.newContext({ viewport: { width: 360, height: 640 } });
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  const response = await page.goto(url);
  await page.screenshot({ path: join(SCREENSHOTS, screenshot) });
  const rendered = await page.evaluate(() => ({
    title: document.title,
    heading: document.querySelector('h1')?.textContent ?? '',
    text: document.body.textContent ?? '',
    scripts: document.scripts.length,
    styleSheets: document.styleSheets.length,
    finalUrl: location.href,
  }));
  await context.close();
  return { status: response?.status(), headers: response?.headers() ?? {}, violations, ...rendered };
}

describe('callback pages in a real browser', () => {
  it('links GitHub through the provider and shows the “linked” page with no CSP violation', async () => {
    const user = await signIn(t.app, { id: nextTelegramId(), first_name: 'Kai' });
    github.loginAs({ id: '8800771', login: 'kai', name: 'Kai' });
    const start = await t.app.inject({
      method: 'POST',
      url: '/api/v1/oauth/github/link',
      headers: bearer(user.accessToken),
    });
    const shown = await openPage(start.json().authorizationUrl, 'oauth-linked.png');
    expect(shown.finalUrl.startsWith(`${publicUrl}/api/v1/oauth/github/callback?`)).toBe(true);
    expect(shown.status).toBe(200);
    expect(shown.headers['content-security-policy']).toContain("default-src 'none'");
    expect(shown.title).toBe('GitHub account linked');
    expect(shown.heading).toBe('GitHub account linked');
    expect(shown.text).toContain('You can close this page and go back to Telegram.');
    expect(shown.scripts).toBe(0);
    expect(shown.styleSheets).toBe(0);
    expect(shown.violations).toEqual([]);
    const listed = await t.app.inject({
      method: 'GET',
      url: '/api/v1/oauth/providers',
      headers: bearer(user.accessToken),
    });
    expect(listed.json().providers[0]).toMatchObject({ id: 'github', linked: true, displayName: 'Kai' });
  });

  it('shows a clear error page for a stale link, with no CSP violation', async () => {
    const shown = await openPage(
      `${publicUrl}/api/v1/oauth/github/callback?code=abc&state=${'A'.repeat(43)}`,
      'oauth-error.png',
    );
    expect(shown.status).toBe(400);
    expect(shown.heading).toBe('That did not work');
    expect(shown.text).toContain('Start again from the app.');
    expect(shown.text).toContain('Error code: OAUTH_STATE_INVALID');
    expect(shown.scripts).toBe(0);
    expect(shown.violations).toEqual([]);
  });
});
