/**
 * Linking an account from the Mini App, the way it happens on a phone: the "Linked accounts" page lists the
 * configured providers, a tap on Link asks our server for an authorization URL and hands it to Telegram's
 * `openLink` (the client opens its external browser), the person signs in at the provider, lands on our
 * callback page, comes back to Telegram, and the page shows the account as linked. A link that opens in the
 * webview itself (where a token or cookie could be read), goes to the wrong place, skips PKCE, or never shows
 * up in the app fails people. This drives the BUILT bundle served by the real server process, in headless
 * Chromium, with the GitHub stand-in (`oidc-provider` on 127.0.0.1) in place of github.com. Screenshots go to
 * test-results/screenshots/oauth-*.png.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { type InitDataUser, signedInitData } from '#test/helpers/init-data.ts';
import { type ProviderStandIn, startProviderStandIn } from '#test/helpers/oauth-providers.ts';
import { freePort, spawnServer } from '#test/helpers/spawn-server.ts';

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEBAPP_BUILD_INDEX = join(REPO_ROOT, 'dist', 'webapp', 'index.html');
const SCREENSHOTS = join(REPO_ROOT, 'test-results', 'screenshots');
const PHONE = { width: 360, height: 780 };
const DARK = {
  bg_color: '#17212b',
  text_color: '#f5f5f5',
  hint_color: '#708499',
  link_color: '#6ab3f3',
  button_color: '#5288c1',
  button_text_color: '#ffffff',
  secondary_bg_color: '#232e3c',
  header_bg_color: '#17212b',
  accent_text_color: '#6ab2f2',
  section_bg_color: '#17212b',
  section_header_text_color: '#6ab3f3',
  subtitle_text_color: '#708499',
  destructive_text_color: '#ec3942',
};

const KAI: InitDataUser = { id: 5_100_000_201, first_name: 'Kai', username: 'kai_links', language_code: 'en' };

/** The hash a Telegram client appends when it opens the Mini App (fresh query id: initData is accepted once). */
function launchHash(user: InitDataUser): string {
  const params = {
    tgWebAppData: signedInitData({ user, queryId: `AAH${randomBytes(12).toString('base64url')}` }),
    tgWebAppVersion: '8.0',
    tgWebAppPlatform: 'tdesktop',
    tgWebAppThemeParams: JSON.stringify(DARK),
  };
  return `#${Object.entries(params)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join('&')}`;
}

/** Uncaught exceptions, console errors (other than 4xx loads), 5xx responses and CSP violations. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 500) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return problems;
}

interface Recorded {
  __sentToTelegram: Array<[string, string]>;
  __windowOpens: string[];
  __cspViolations: string[];
}

describe('Mini App "Linked accounts": Link → Telegram openLink → provider → callback page → linked', () => {
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined;
  let github: ProviderStandIn | undefined;
  let browser: Browser | undefined;
  let publicUrl = '';

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(`Chromium is missing at ${CHROMIUM_PATH}: run \`apt-get install -y chromium\`.`);
    }
    if (!existsSync(WEBAPP_BUILD_INDEX) || statSync(WEBAPP_BUILD_INDEX).size === 0) {
      throw new Error('The Mini App is not built: run `npm run build` (test/e2e/webapp.e2e.test.ts builds it too).');
    }
    // PUBLIC_URL is where the provider sends the browser back: the real server's own address.
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    github = await startProviderStandIn('github', {
      redirectUris: [`${publicUrl}/api/v1/oauth/github/callback`],
    });
    server = await spawnServer(
      {
        PORT: String(port),
        PUBLIC_URL: publicUrl,
        ...github.env,
        BOT_TOKEN: TEST_BOT_TOKEN,
        ROLES: 'api,worker',
        // Nothing may reach the real Telegram from a test: the link confirmation goes to a closed local port.
        TELEGRAM_API_ROOT: 'http://127.0.0.1:9',
      },
      150_000,
    );
    expect(server.url).toBe(publicUrl);
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 200_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await github?.close();
  }, 30_000);

  it('links GitHub from the Mini App through Telegram’s openLink and shows it linked with an Unlink button', async () => {
    onTestFailed(() => {
      console.error(`server logs (tail):\n${(server?.logs() ?? '(no server)').slice(-6000)}`);
    });
    if (!browser || !github) throw new Error('setup failed (see beforeAll)');
    github.loginAs({ id: '8800772', login: 'kai-links', name: 'Kai Links', email: 'kai@github.example' });

    // The Telegram webview: a native-client proxy records every event the app posts to Telegram; window.open
    // is recorded too (the fallback outside Telegram must not be what runs here).
    const webview = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, colorScheme: 'dark' });
    // The external browser Telegram's openLink hands the URL to: no proxy, its own cookies.
    const external = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, locale: 'en-US' });
    try {
      await webview.addInitScript(() => {
        const sent: Array<[string, string]> = [];
        const opens: string[] = [];
        const violations: string[] = [];
        document.addEventListener('securitypolicyviolation', (event) =>
          violations.push(`${event.violatedDirective} ${event.blockedURI}`),
        );
        window.open = (url?: string | URL) => {
          opens.push(String(url));
          return null;
        };
        Object.assign(window, {
          __sentToTelegram: sent,
          __windowOpens: opens,
          __cspViolations: violations,
          TelegramWebviewProxy: { postEvent: (type: string, data: string) => sent.push([type, data]) },
        });
      });
      const app = await webview.newPage();
      const problems = watchProblems(app);
      const apiCalls: string[] = [];
      app.on('request', (request) => {
        const url = new URL(request.url());
        if (url.pathname.startsWith('/api/v1/oauth/')) apiCalls.push(`${request.method()} ${url.pathname}`);
      });
      const linkResponse = app.waitForResponse(
        (response) =>
          response.request().method() === 'POST' && new URL(response.url()).pathname === '/api/v1/oauth/github/link',
      );

      // 1. The page lists the configured provider (only GitHub is configured here) with a Link button.
      await app.goto(`${publicUrl}/app/oauth${launchHash(KAI)}`);
      await app.getByTestId('page-oauth').waitFor();
      const row = app.getByTestId('provider-github');
      await row.waitFor();
      expect(await app.locator('[data-testid^="provider-"]').count()).toBe(1);
      expect(await row.textContent()).toContain('GitHub');
      expect(await row.textContent()).toContain('Not linked');
      const linkButton = row.getByRole('button', { name: 'Link', exact: true });
      await linkButton.waitFor();
      await app.screenshot({ path: join(SCREENSHOTS, 'oauth-mini-app-unlinked-dark.png'), fullPage: true });

      // 2. Tap Link: POST …/github/link, then Telegram's openLink with exactly the URL the server returned.
      await linkButton.click();
      const started = await linkResponse;
      expect(started.status()).toBe(200);
      const { authorizationUrl } = (await started.json()) as { authorizationUrl: string };
      const openLinkData = async () =>
        (await app.evaluate(() => (window as unknown as Recorded).__sentToTelegram))
          .filter(([type]) => type === 'web_app_open_link')
          .map(([, data]) => JSON.parse(data) as { url: string });
      await expect.poll(openLinkData).toHaveLength(1);
      const [opened] = await openLinkData();
      expect(opened?.url).toBe(authorizationUrl);
      expect(await app.evaluate(() => (window as unknown as Recorded).__windowOpens)).toEqual([]);
      await app.getByText('Finish in the GitHub window').waitFor();
      await app.screenshot({ path: join(SCREENSHOTS, 'oauth-mini-app-opened-link-dark.png'), fullPage: true });

      // The request goes to the provider's authorization endpoint: code flow, PKCE S256, a state, our exact
      // redirect URI, the scopes GitHub needs; no nonce (GitHub is plain OAuth 2.0).
      const url = new URL(opened?.url ?? '');
      expect(`${url.origin}${url.pathname}`).toBe(github.env.GITHUB_AUTHORIZATION_URL);
      expect(url.searchParams.get('response_type')).toBe('code');
      expect(url.searchParams.get('client_id')).toBe(github.clientId);
      expect(url.searchParams.get('code_challenge_method')).toBe('S256');
      expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(url.searchParams.get('redirect_uri')).toBe(`${publicUrl}/api/v1/oauth/github/callback`);
      expect(url.searchParams.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['read:user', 'user:email']));
      expect(url.searchParams.has('nonce')).toBe(false);
      // Nothing of the Mini App's session travels in it.
      expect(url.href).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.|tgWebAppData|hash=/);

      // The Mini App notices it is hidden while Telegram's browser is in front.
      await app.evaluate(() => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
        document.dispatchEvent(new Event('visibilitychange'));
      });

      // 3. The external browser: the provider (the stand-in signs in and consents at once), then our callback.
      const browserPage = await external.newPage();
      const browserProblems = watchProblems(browserPage);
      const cspConsole: string[] = [];
      browserPage.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) cspConsole.push(message.text());
      });
      const hops: string[] = [];
      browserPage.on('request', (request) => {
        if (request.isNavigationRequest()) hops.push(new URL(request.url()).origin);
      });
      const landed = await browserPage.goto(opened?.url ?? '');
      expect(browserPage.url().startsWith(`${publicUrl}/api/v1/oauth/github/callback?`)).toBe(true);
      expect(new URL(browserPage.url()).searchParams.get('state')).toBe(url.searchParams.get('state'));
      expect(hops[0]).toBe(github.issuer);
      expect(hops.at(-1)).toBe(publicUrl);
      expect(landed?.status()).toBe(200);
      expect(landed?.headers()['content-security-policy']).toContain("default-src 'none'");
      const page = await browserPage.evaluate(() => ({
        title: document.title,
        heading: document.querySelector('h1')?.textContent ?? '',
        text: document.body.textContent ?? '',
        scripts: document.scripts.length,
      }));
      expect(page.title).toBe('GitHub account linked');
      expect(page.heading).toBe('GitHub account linked');
      expect(page.text).toContain('You can close this page and go back to Telegram.');
      expect(page.scripts).toBe(0);
      await browserPage.screenshot({ path: join(SCREENSHOTS, 'oauth-linked-callback.png'), fullPage: true });
      expect(cspConsole).toEqual([]);
      expect(browserProblems).toEqual([]);
      // The server read GitHub's user APIs with the access token it got for the code.
      expect(github.requests).toEqual(expect.arrayContaining(['/auth', '/token', '/user', '/user/emails']));

      // The same authorization URL cannot be used twice: the state was taken once.
      const replay = await browserPage.goto(
        `${publicUrl}/api/v1/oauth/github/callback?code=replayed&state=${url.searchParams.get('state')}`,
      );
      expect(replay?.status()).toBe(400);
      expect(await browserPage.textContent('body')).toContain('OAUTH_STATE_INVALID');
      await browserPage.close();

      // 4. Back in Telegram: the webview is visible again and the list refreshes by itself (no reload).
      const listsBefore = apiCalls.filter((call) => call === 'GET /api/v1/oauth/providers').length;
      await app.evaluate(() => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      const unlinkButton = row.getByRole('button', { name: 'Unlink', exact: true });
      await unlinkButton.waitFor({ timeout: 15_000 });
      expect(apiCalls.filter((call) => call === 'GET /api/v1/oauth/providers').length).toBeGreaterThan(listsBefore);
      expect(await row.getByRole('button', { name: 'Link', exact: true }).count()).toBe(0);
      const shown = (await row.textContent()) ?? '';
      expect(shown).toContain('linked');
      expect(shown).toContain('Kai Links');
      expect(shown).not.toContain('Not linked');
      await app.screenshot({ path: join(SCREENSHOTS, 'oauth-linked-mini-app-dark.png'), fullPage: true });

      // A fresh launch from Telegram (new initData, new sign-in) shows the same, from the server.
      await app.goto(`${publicUrl}/app/oauth${launchHash(KAI)}`);
      await app.getByTestId('provider-github').getByRole('button', { name: 'Unlink', exact: true }).waitFor();

      expect(apiCalls).toContain('POST /api/v1/oauth/github/link');
      expect(apiCalls.indexOf('POST /api/v1/oauth/github/link')).toBeGreaterThan(
        apiCalls.indexOf('GET /api/v1/oauth/providers'),
      );
      expect(problems).toEqual([]);
      expect(await app.evaluate(() => (window as unknown as Recorded).__cspViolations)).toEqual([]);
    } finally {
      await external.close();
      await webview.close();
    }
  }, 90_000);
});
