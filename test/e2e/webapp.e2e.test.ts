/**
 * The Mini App is where users will manage sessions, keys and their data, inside Telegram. A shell that
 * breaks under the server's strict CSP, loads anything from another origin, talks to a host other than
 * Telegram, or ignores Telegram's theme would fail users before any feature ships. This drives the BUILT
 * bundle, served by the real server process, in a real Chromium, the way Telegram opens it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sign } from '@telegram-apps/init-data-node';
import { type Browser, type BrowserContext, chromium, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { spawnServer } from '#test/helpers/spawn-server.ts';

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
const WEBAPP_SOURCE = join(REPO_ROOT, 'webapp');
const WEBAPP_BUILD_INDEX = join(REPO_ROOT, 'dist', 'webapp', 'index.html');
const RESULTS_DIR = join(REPO_ROOT, 'test-results');
const TELEGRAM_WEB = 'https://web.telegram.org';

// Telegram Desktop's night theme, as the client sends it.
const NIGHT_THEME = {
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

// Telegram's default light theme (iOS), sent live through theme_changed.
const DAY_THEME = {
  bg_color: '#ffffff',
  text_color: '#000000',
  hint_color: '#8e8e93',
  link_color: '#007aff',
  button_color: '#007aff',
  button_text_color: '#ffffff',
  secondary_bg_color: '#efeff4',
  header_bg_color: '#f8f8f8',
  accent_text_color: '#007aff',
  section_bg_color: '#ffffff',
  section_header_text_color: '#6d6d72',
  subtitle_text_color: '#8e8e93',
  destructive_text_color: '#ff3b30',
};

const FIRST_NAME = 'Алиса';

function signedInitData(): string {
  // Signed as Telegram would sign it; the shell only displays it, the API will verify it.
  return sign(
    {
      query_id: 'AAHdF6IQAAAAAN0XohDhrOrc',
      user: { id: 279058397, first_name: FIRST_NAME, last_name: 'Ivanova', username: 'alisa', language_code: 'ru' },
    },
    '1234567890:AAe2e-test-token',
    new Date(),
  );
}

/** The hash a Telegram client appends when it opens the Mini App (values encoded with encodeURIComponent). */
function launchHash(theme: Record<string, string>, initData: string): string {
  const params = {
    tgWebAppData: initData,
    tgWebAppVersion: '8.0',
    tgWebAppPlatform: 'tdesktop',
    tgWebAppThemeParams: JSON.stringify(theme),
  };
  return `#${Object.entries(params)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join('&')}`;
}

function rgb(hex: string): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 0xff}, ${(n >> 8) & 0xff}, ${n & 0xff})`;
}

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds the Mini App when dist/webapp is missing or older than webapp/. The server lists the built files
 * when it starts, so this runs before it. NODE_ENV=production: under Vitest it is "test", which would
 * bundle React's development build.
 */
async function ensureWebappBuilt(): Promise<void> {
  if (existsSync(WEBAPP_BUILD_INDEX) && statSync(WEBAPP_BUILD_INDEX).mtimeMs >= newestMtimeMs(WEBAPP_SOURCE)) return;
  await promisify(execFile)(
    process.execPath,
    [join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'webapp/vite.config.ts'],
    { cwd: REPO_ROOT, env: { ...process.env, NODE_ENV: 'production' } },
  );
}

/** Everything that went wrong on a page: console errors, uncaught exceptions, failed or refused requests. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) =>
    problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`),
  );
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return problems;
}

type Scope = Page | Frame;

function cssVariable(scope: Scope, name: string): Promise<string> {
  return scope.evaluate((n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim(), name);
}

function bodyBackground(scope: Scope): Promise<string> {
  return scope.evaluate(() => getComputedStyle(document.body).backgroundColor);
}

describe('Mini App served by the server (headless Chromium)', () => {
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined;
  let browser: Browser | undefined;
  let origin = '';

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM_PATH}: run \`apt-get install -y chromium\` (Debian's package; never \`npx playwright install\`).`,
      );
    }
    await ensureWebappBuilt();
    server = await spawnServer();
    origin = new URL(server.url).origin;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    mkdirSync(RESULTS_DIR, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  }, 30_000);

  beforeEach(() => {
    onTestFailed(() => {
      console.error(`server logs:\n${server?.logs() ?? '(no server)'}`);
    });
  });

  async function newContext(options: { colorScheme?: 'light' | 'dark' } = {}): Promise<BrowserContext> {
    if (!browser) throw new Error('the browser did not start (see beforeAll)');
    return browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      colorScheme: options.colorScheme ?? 'light',
      locale: 'en-US',
    });
  }

  it('boots inside a Telegram Desktop launch with its dark theme and greets the user', async () => {
    const context = await newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      const foreignRequests: string[] = [];
      page.on('request', (request) => {
        if (new URL(request.url()).origin !== origin) foreignRequests.push(request.url());
      });
      // A native Telegram client injects this proxy; it records what the app asks of the client.
      await page.addInitScript(() => {
        const sent: Array<[string, string]> = [];
        Object.assign(window, {
          __sentToTelegram: sent,
          TelegramWebviewProxy: { postEvent: (type: string, data: string) => sent.push([type, data]) },
        });
      });

      const response = await page.goto(`${server?.url}/app/${launchHash(NIGHT_THEME, signedInitData())}`);
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");

      await page.getByTestId('app-root').waitFor();
      expect(await cssVariable(page, '--tg-theme-bg-color')).toBe(NIGHT_THEME.bg_color);
      expect(await cssVariable(page, '--tg-theme-secondary-bg-color')).toBe(NIGHT_THEME.secondary_bg_color);
      expect(await bodyBackground(page)).toBe(rgb(NIGHT_THEME.bg_color));
      expect(await page.evaluate(() => getComputedStyle(document.body).color)).toBe(rgb(NIGHT_THEME.text_color));
      expect(await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme)).toBe('dark');

      await expect.poll(() => page.getByTestId('greeting').textContent()).toContain(FIRST_NAME);
      await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Security');
      for (const section of ['section-account', 'section-security', 'section-privacy']) {
        expect(await page.getByTestId(section).isVisible(), section).toBe(true);
      }
      expect(await page.getByRole('region', { name: 'Sign-in & security' }).getByRole('button').count()).toBe(4);
      expect(await page.getByRole('region', { name: 'Privacy' }).getByRole('button').count()).toBe(3);
      const sessions = page.getByRole('button', { name: 'Sessions' });
      expect(await sessions.isDisabled()).toBe(true);
      expect(await sessions.getAttribute('aria-describedby')).toBe('row-sessions-hint');
      expect(await page.locator('#row-sessions-hint').textContent()).toBe('Coming soon');

      const sent = await page.evaluate(
        () => (window as unknown as { __sentToTelegram: Array<[string, string]> }).__sentToTelegram,
      );
      expect(sent).toContainEqual(['web_app_ready', '{}']);
      expect(sent).toContainEqual(['web_app_expand', '{}']);

      await page.screenshot({ path: join(RESULTS_DIR, 'webapp.png'), fullPage: true });
      expect(problems).toEqual([]);
      expect(foreignRequests).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('follows theme_changed live and keeps the launch across a reload', async () => {
    const context = await newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(`${server?.url}/app/${launchHash(NIGHT_THEME, signedInitData())}`);
      await page.getByTestId('app-root').waitFor();

      // At top level the page is its own parent, so its own message stands for the host's.
      await page.evaluate((theme) => {
        window.postMessage(JSON.stringify({ eventType: 'theme_changed', eventData: { theme_params: theme } }), '*');
      }, DAY_THEME);
      await expect.poll(() => cssVariable(page, '--tg-theme-bg-color')).toBe(DAY_THEME.bg_color);
      expect(await bodyBackground(page)).toBe(rgb(DAY_THEME.bg_color));
      expect(await cssVariable(page, '--tg-theme-destructive-text-color')).toBe(DAY_THEME.destructive_text_color);

      // Native clients call Telegram.WebView.receiveEvent instead of posting a message.
      await page.evaluate(() => {
        const host = window as unknown as {
          Telegram: { WebView: { receiveEvent(type: string, data: unknown): void } };
        };
        host.Telegram.WebView.receiveEvent('theme_changed', { theme_params: { bg_color: '#1c1c1d' } });
      });
      await expect.poll(() => cssVariable(page, '--tg-theme-bg-color')).toBe('#1c1c1d');

      // Colours that are not hex colours never reach CSS.
      await page.evaluate(() => {
        const data = { theme_params: { bg_color: 'red;background:url(https://evil.example/x)' } };
        window.postMessage(JSON.stringify({ eventType: 'theme_changed', eventData: data }), '*');
      });
      await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 50)));
      expect(await cssVariable(page, '--tg-theme-bg-color')).toBe('#1c1c1d');

      await page.screenshot({ path: join(RESULTS_DIR, 'webapp-live-theme.png'), fullPage: true });

      // Telegram reloads keep no hash after in-app navigation: sessionStorage carries the launch.
      await page.goto(`${server?.url}/app/`);
      await page.getByTestId('app-root').waitFor();
      await expect.poll(() => page.getByTestId('greeting').textContent()).toContain(FIRST_NAME);
      expect(await cssVariable(page, '--tg-theme-bg-color')).toBe('#1c1c1d');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('talks to Telegram Web only through its parent frame on web.telegram.org', async () => {
    const context = await newContext();
    try {
      const appUrl = `${server?.url}/app/${launchHash(NIGHT_THEME, signedInitData())}`;
      // Telegram Web stands in: the same iframe embedding, served locally (no network in tests).
      await context.route(`${TELEGRAM_WEB}/**`, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><html><body style="margin:0">
<iframe id="app" src="${appUrl}" style="border:0;width:100%;height:100vh"></iframe>
<script>
  window.received = [];
  addEventListener('message', (event) => {
    if (event.source === document.getElementById('app').contentWindow) {
      window.received.push({ origin: event.origin, data: event.data });
    }
  });
</script></body></html>`,
        }),
      );
      // Chromium's Local Network Access blocks a public page from framing 127.0.0.1 unless the user allows it;
      // in production the Mini App is public too, so this only lifts a test-setup artefact.
      await context.grantPermissions(['local-network-access'], { origin: TELEGRAM_WEB });
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(`${TELEGRAM_WEB}/k/`);
      const frame = await (await page.waitForSelector('#app')).contentFrame();
      if (!frame) throw new Error('the Mini App iframe has no frame');
      await frame.getByTestId('app-root').waitFor();
      await expect.poll(() => frame.getByTestId('greeting').textContent()).toContain(FIRST_NAME);

      type Received = Array<{ origin: string; data: string }>;
      const received = () => page.evaluate(() => (window as unknown as { received: Received }).received);
      await expect
        .poll(async () => (await received()).map((message) => JSON.parse(message.data) as unknown))
        .toEqual(
          expect.arrayContaining([
            { eventType: 'web_app_ready', eventData: {} },
            { eventType: 'web_app_expand', eventData: {} },
          ]),
        );
      for (const message of await received()) expect(message.origin).toBe(origin);

      // theme_changed from the host frame is applied...
      await page.evaluate((theme) => {
        const app = document.getElementById('app') as HTMLIFrameElement;
        const message = JSON.stringify({ eventType: 'theme_changed', eventData: { theme_params: theme } });
        app.contentWindow?.postMessage(message, '*');
      }, DAY_THEME);
      await expect.poll(() => cssVariable(frame, '--tg-theme-bg-color')).toBe(DAY_THEME.bg_color);

      // ...but the same message from any other window (here the app's own) is not.
      await frame.evaluate(() => {
        const message = { eventType: 'theme_changed', eventData: { theme_params: { bg_color: '#ff0000' } } };
        window.postMessage(JSON.stringify(message), '*');
      });
      await frame.evaluate(() => new Promise((resolve) => setTimeout(resolve, 50)));
      expect(await cssVariable(frame, '--tg-theme-bg-color')).toBe(DAY_THEME.bg_color);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('serves the app on deep links (SPA fallback) and falls back to the system colour scheme outside Telegram', async () => {
    for (const scheme of ['dark', 'light'] as const) {
      const context = await newContext({ colorScheme: scheme });
      try {
        const page = await context.newPage();
        const problems = watchProblems(page);
        const response = await page.goto(`${server?.url}/app/settings/anything`);
        expect(response?.status()).toBe(200);
        expect(response?.headers()['content-type']).toContain('text/html');
        await page.getByTestId('app-root').waitFor();
        await expect
          .poll(() => page.getByTestId('greeting').textContent())
          .toBe('Open this app from the bot to sign in');
        expect(await bodyBackground(page)).toBe(scheme === 'dark' ? rgb('#17212b') : rgb('#ffffff'));
        if (scheme === 'light') await page.screenshot({ path: join(RESULTS_DIR, 'webapp-outside-telegram.png') });
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    }
  }, 60_000);
});
