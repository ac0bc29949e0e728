/**
 * The Mini App is where people manage their sign-in, keys and data inside Telegram. A page that breaks under
 * the strict CSP, keeps a token where a script or a URL can leak it, shows an API key twice, cannot end a
 * session, or shows the admin area to a non-admin fails its users. This drives the BUILT bundle, served by the
 * real server process (real PostgreSQL/PGlite, Redis, MFA), in a real Chromium, the way Telegram opens it:
 * launch parameters in the URL hash with initData signed by the bot token, and a native-client proxy that
 * records what the app asks of Telegram. Screenshots of every page, light and dark, at 360 px, are saved to
 * test-results/screenshots/.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { generateTotp } from '#shared/mfa/totp.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { type InitDataUser, signedInitData } from '#test/helpers/init-data.ts';
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
const SCREENSHOTS = join(REPO_ROOT, 'test-results', 'screenshots');
const PHONE = { width: 360, height: 780 };

// Telegram Desktop's night theme and the default light theme, as clients send them.
const THEMES = {
  dark: {
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
  },
  light: {
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
  },
} as const;
type ThemeName = keyof typeof THEMES;

const ADMIN: InitDataUser = { id: 5_100_000_001, first_name: 'Ada', username: 'ada_admin', language_code: 'en' };
const USER: InitDataUser = { id: 5_100_000_002, first_name: 'Алиса', username: 'alisa', language_code: 'ru' };
const KEY_USER: InitDataUser = { id: 5_100_000_003, first_name: 'Ken', language_code: 'en' };

function freshInitData(user: InitDataUser): string {
  // Each launch carries its own query id, as Telegram's do: the API accepts each initData once.
  return signedInitData({ user, queryId: `AAH${randomBytes(12).toString('base64url')}` });
}

/** The hash a Telegram client appends when it opens the Mini App (values encoded with encodeURIComponent). */
function launchHash(user: InitDataUser, theme: ThemeName = 'dark'): string {
  const params = {
    tgWebAppData: freshInitData(user),
    tgWebAppVersion: '8.0',
    tgWebAppPlatform: 'tdesktop',
    tgWebAppThemeParams: JSON.stringify(THEMES[theme]),
  };
  return `#${Object.entries(params)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join('&')}`;
}

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the Mini App when dist/webapp is missing or older than webapp/ (NODE_ENV=production: React's prod build). */
async function ensureWebappBuilt(): Promise<void> {
  if (existsSync(WEBAPP_BUILD_INDEX) && statSync(WEBAPP_BUILD_INDEX).mtimeMs >= newestMtimeMs(WEBAPP_SOURCE)) return;
  await promisify(execFile)(
    process.execPath,
    [join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'webapp/vite.config.ts'],
    { cwd: REPO_ROOT, env: { ...process.env, NODE_ENV: 'production' } },
  );
}

/**
 * What went wrong on a page: uncaught exceptions, CSP violations, console errors and 5xx. A 404 from an API
 * route another capability has not deployed is expected (the page shows "not available"), so resource-load
 * 404s are not problems; the app's handling of them is asserted where it matters.
 */
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
  __cspViolations: string[];
}

async function stepOf(nowSeconds: number): Promise<number> {
  return Math.floor(nowSeconds / 30);
}

describe('Mini App against the real server (headless Chromium)', () => {
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined;
  let browser: Browser | undefined;
  let origin = '';
  let backupCodes: string[] = [];
  let totpSecret = '';
  let lastTotpStep = 0;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(`Chromium is missing at ${CHROMIUM_PATH}: run \`apt-get install -y chromium\`.`);
    }
    await ensureWebappBuilt();
    server = await spawnServer(
      {
        BOT_TOKEN: TEST_BOT_TOKEN,
        ADMIN_TELEGRAM_IDS: String(ADMIN.id),
        ROLES: 'api,worker',
        // Nothing may reach the real Telegram from a test: notices go to a closed local port.
        TELEGRAM_API_ROOT: 'http://127.0.0.1:9',
        // Development only (refused in production, see test/server/dev): lets a plain browser sign in.
        DEV_SIGNER_ENABLED: 'true',
      },
      // Migrations on a fresh embedded database take a while on a busy 2-core machine.
      150_000,
    );
    origin = new URL(server.url).origin;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  }, 30_000);

  beforeEach(() => {
    onTestFailed(() => {
      console.error(`server logs (tail):\n${(server?.logs() ?? '(no server)').slice(-6000)}`);
    });
  });

  async function newContext(colorScheme: 'light' | 'dark' = 'dark'): Promise<BrowserContext> {
    if (!browser) throw new Error('the browser did not start (see beforeAll)');
    const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, colorScheme, locale: 'en-US' });
    // A native Telegram client injects this proxy; it records what the app asks of the client. CSP violations
    // are recorded too (the strict policy forbids inline script and style).
    await context.addInitScript(() => {
      const sent: Array<[string, string]> = [];
      const violations: string[] = [];
      document.addEventListener('securitypolicyviolation', (event) =>
        violations.push(`${event.violatedDirective} ${event.blockedURI}`),
      );
      Object.assign(window, {
        __sentToTelegram: sent,
        __cspViolations: violations,
        TelegramWebviewProxy: { postEvent: (type: string, data: string) => sent.push([type, data]) },
      });
    });
    return context;
  }

  async function open(page: Page, user: InitDataUser, path = '', theme: ThemeName = 'dark'): Promise<void> {
    await page.goto(`${server?.url}/app/${path}${launchHash(user, theme)}`);
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  /** Sends an event as the native client does (Telegram.WebView.receiveEvent). */
  async function fromTelegram(page: Page, eventType: string, eventData?: unknown): Promise<void> {
    await page.evaluate(
      ([type, data]) => {
        const host = window as unknown as { Telegram: { WebView: { receiveEvent(t: string, d: unknown): void } } };
        host.Telegram.WebView.receiveEvent(type as string, data);
      },
      [eventType, eventData] as const,
    );
  }

  /** In-app navigation as a history step (what the BackButton undoes). */
  async function goTo(page: Page, route: string): Promise<void> {
    await page.evaluate((r) => {
      window.history.pushState(null, '', r === 'home' ? '/app/' : `/app/${r}`);
      window.dispatchEvent(new PopStateEvent('popstate'));
    }, route);
  }

  async function apiSignIn(user: InitDataUser): Promise<{ accessToken: string; refreshToken: string }> {
    const response = await fetch(`${server?.url}/api/v1/auth/telegram`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ initData: freshInitData(user) }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { accessToken: string; refreshToken: string };
  }

  /** A TOTP code for a time step not used before (the server refuses a step twice). */
  async function nextTotp(): Promise<string> {
    for (;;) {
      const now = Math.floor(Date.now() / 1000);
      const step = await stepOf(now);
      if (step > lastTotpStep) {
        lastTotpStep = step;
        return await generateTotp({ secret: totpSecret, nowSeconds: now });
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  it('outside Telegram, explains how to open the app from the bot, and offers the development signer', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      const context = await newContext(scheme);
      try {
        const page = await context.newPage();
        const problems = watchProblems(page);
        // A deep link (SPA fallback) and the root.
        const response = await page.goto(`${server?.url}/app/${scheme === 'light' ? 'privacy' : ''}`);
        expect(response?.status()).toBe(200);
        expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
        await page.getByTestId('outside-telegram').waitFor();
        expect(await page.getByTestId('outside-text').textContent()).toContain('open from our bot');
        expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Open in Telegram');
        // This development server opted in to the signer: the page offers it (never in production).
        await page.getByTestId('dev-sign-in').waitFor();
        await screenshot(page, `outside-telegram-${scheme}`);
        expect(await page.evaluate(() => (window as unknown as Recorded).__cspViolations)).toEqual([]);
        if (scheme === 'dark') {
          // The development signer signs in as a test user, through the real sign-in, with nothing in the URL.
          await page.getByTestId('dev-id').fill('5100000099');
          await page.getByTestId('dev-name').fill('Devi');
          await page.getByTestId('dev-sign-in').click();
          await page.getByTestId('page-home').waitFor();
          await expect.poll(() => page.getByTestId('greeting').textContent()).toContain('Devi');
          expect(page.url()).toBe(`${server?.url}/app/`);
        }
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    }
  }, 60_000);

  it('signs in with the raw initData, keeps tokens out of storage and URLs, and drives Telegram through the SDK', async () => {
    const context = await newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      const foreign: string[] = [];
      page.on('request', (request) => {
        if (new URL(request.url()).origin !== origin) foreign.push(request.url());
      });
      const signIns: unknown[] = [];
      page.on('request', (request) => {
        if (request.url().endsWith('/api/v1/auth/telegram')) signIns.push(request.postDataJSON());
      });
      await open(page, USER);
      await page.getByTestId('page-home').waitFor();
      await expect.poll(() => page.getByTestId('greeting').textContent()).toContain(USER.first_name);
      expect(await page.getByTestId('role').textContent()).toBe('user');
      // The body is exactly the signed string Telegram gave, nothing parsed or rebuilt.
      expect(signIns).toHaveLength(1);
      const sent = signIns[0] as { initData: string };
      expect(new URLSearchParams(sent.initData).get('hash')).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.parse(new URLSearchParams(sent.initData).get('user') ?? '{}').id).toBe(USER.id);

      // The checklist reflects this account (no MFA yet, one session, nothing pending).
      await expect.poll(() => page.getByTestId('check-sessions').textContent()).toContain('1 session');

      // Tokens live in memory only: not in localStorage, sessionStorage, cookies or the URL.
      const storage = await page.evaluate(() => ({
        local: JSON.stringify({ ...localStorage }),
        session: JSON.stringify({ ...sessionStorage }),
        cookie: document.cookie,
        url: location.href,
      }));
      expect(storage.local).toBe('{}');
      expect(storage.cookie).toBe('');
      for (const value of [storage.session, storage.url]) {
        expect(value).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/); // no JWT
        expect(value).not.toMatch(/accessToken|refreshToken/);
      }

      // The SDK told the client the app is ready and set up the BackButton once a page was opened.
      const telegram = () => page.evaluate(() => (window as unknown as Recorded).__sentToTelegram.map(([t]) => t));
      await expect.poll(telegram).toContain('web_app_ready');
      await page.getByTestId('nav-sessions').click();
      await page.getByTestId('page-sessions').waitFor();
      await expect.poll(telegram).toContain('web_app_setup_back_button');
      // Telegram's BackButton takes the user back.
      await fromTelegram(page, 'back_button_pressed');
      await page.getByTestId('page-home').waitFor();

      // The theme follows theme_changed live.
      await fromTelegram(page, 'theme_changed', { theme_params: THEMES.light });
      await expect
        .poll(() =>
          page.evaluate(() =>
            getComputedStyle(document.documentElement).getPropertyValue('--tg-theme-bg-color').trim(),
          ),
        )
        .toBe('#ffffff');

      // Admin is hidden from a user, refused by the page on a deep link, and refused by the server.
      expect(await page.getByTestId('nav-admin').count()).toBe(0);
      await open(page, USER, 'admin');
      await page.getByTestId('admin-refused').waitFor();
      expect(await page.getByTestId('admin-refused-text').textContent()).toContain('administrators');
      await screenshot(page, 'admin-refused-user-dark');
      const { accessToken } = await apiSignIn(USER);
      for (const path of ['/api/v1/admin/users', '/api/v1/admin/audit', '/api/v1/admin/audit/verification']) {
        const refused = await fetch(`${server?.url}${path}`, { headers: { authorization: `Bearer ${accessToken}` } });
        expect(refused.status, path).toBe(403);
        expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('PERMISSION_DENIED');
      }

      expect(foreign).toEqual([]);
      expect(problems).toEqual([]);
      expect(await page.evaluate(() => (window as unknown as Recorded).__cspViolations)).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('shows a new API key once, then only its prefix', async () => {
    const context = await newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await open(page, KEY_USER, 'api-keys');
      await page.getByTestId('page-api-keys').waitFor();
      await page.getByTestId('state-empty').waitFor();
      await page.getByTestId('api-key-name').fill('backup script');
      await page.getByTestId('api-key-create').click();
      const secret = (await page.getByTestId('api-key-secret').textContent()) ?? '';
      expect(secret.length).toBeGreaterThan(30);
      await screenshot(page, 'api-keys-shown-once-dark');

      // The key works against the API (it is the real one)...
      const me = await fetch(`${server?.url}/api/v1/me`, { headers: { 'x-api-key': secret } });
      expect(me.status).toBe(200);

      // ...and once dismissed it is gone from the page; the list shows the prefix only.
      await page.getByTestId('api-key-done').click();
      await expect.poll(() => page.getByTestId('api-key-secret').count()).toBe(0);
      const prefix = (await page.getByTestId('api-key-prefix').first().textContent()) ?? '';
      expect(prefix).toContain('…');
      expect(secret.startsWith(prefix.split('…')[0] ?? '-')).toBe(true);
      expect(await page.content()).not.toContain(secret);

      // A fresh launch (new initData) never shows it again.
      await open(page, KEY_USER, 'api-keys');
      await page.getByTestId('api-keys-list').waitFor();
      expect(await page.content()).not.toContain(secret);
      expect(await page.getByTestId('api-key-row').count()).toBe(1);

      // Revoke: the key stops working.
      await page.getByTestId('api-key-revoke').click();
      await page.getByTestId('state-empty').waitFor();
      expect((await fetch(`${server?.url}/api/v1/me`, { headers: { 'x-api-key': secret } })).status).toBe(401);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('ends another session from the sessions page, and that session stops working', async () => {
    const other = await apiSignIn(USER);
    expect(
      (await fetch(`${server?.url}/api/v1/me`, { headers: { authorization: `Bearer ${other.accessToken}` } })).status,
    ).toBe(200);
    const context = await newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await open(page, USER, 'sessions');
      await page.getByTestId('sessions-list').waitFor();
      await expect.poll(() => page.getByTestId('session-other').count()).toBeGreaterThanOrEqual(1);
      const before = await page.getByTestId('session-other').count();
      await screenshot(page, 'sessions-dark');
      await page.getByTestId('session-revoke').first().click();
      await page.getByTestId('notice-success').waitFor();
      await expect.poll(() => page.getByTestId('session-other').count()).toBe(before - 1);
      await page.getByTestId('sessions-revoke-others').click();
      await expect.poll(() => page.getByTestId('session-other').count()).toBe(0);
      expect(await page.getByTestId('session-current').count()).toBe(1);
      const refused = await fetch(`${server?.url}/api/v1/me`, {
        headers: { authorization: `Bearer ${other.accessToken}` },
      });
      expect(refused.status).toBe(401);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('keeps a consent choice across a reload', async () => {
    const context = await newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await open(page, USER, 'privacy');
      await page.getByTestId('page-privacy').waitFor();
      const { accessToken } = await apiSignIn(USER);
      const probe = await fetch(`${server?.url}/api/v1/privacy/consents`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect(probe.status).toBe(200);
      const { purposes } = (await probe.json()) as { purposes: { id: string; required: boolean }[] };
      const optional = purposes.find((p) => !p.required);
      expect(optional, 'an optional purpose to toggle').toBeDefined();
      const id = optional?.id ?? '';
      const toggle = page.getByTestId(`consent-${id}`);
      await toggle.waitFor();
      const was = await toggle.isChecked();
      await toggle.click({ force: true });
      await page.getByTestId('notice-success').waitFor();
      expect(await toggle.isChecked()).toBe(!was);
      // A reload is a new launch from Telegram: fresh initData, fresh sign-in, state from the server.
      await open(page, USER, 'privacy');
      await page.getByTestId(`consent-${id}`).waitFor();
      await expect.poll(() => page.getByTestId(`consent-${id}`).isChecked()).toBe(!was);
      // And the server agrees.
      const after = await fetch(`${server?.url}/api/v1/privacy/consents`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      const stored = ((await after.json()) as { purposes: { id: string; granted: boolean }[] }).purposes;
      expect(stored.find((p) => p.id === id)?.granted).toBe(!was);
      await screenshot(page, 'privacy-dark');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('enrols MFA with the QR page, then signs in through the MFA challenge', async () => {
    const context = await newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      // A second admin session opened before enrolment: it has no second factor yet.
      const early = await context.newPage();
      const earlyProblems = watchProblems(early);
      await open(early, ADMIN);
      await early.getByTestId('page-home').waitFor();

      await open(page, ADMIN, 'mfa');
      await page.getByTestId('page-mfa').waitFor();
      await page.getByTestId('mfa-enrol').click();
      await page.getByTestId('mfa-enrolment').waitFor();
      // The QR is a data: image (allowed by img-src), not a remote one.
      expect(await page.locator('img.qr').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
      totpSecret = ((await page.getByTestId('mfa-secret').textContent()) ?? '').replace(/\s+/g, '');
      expect(totpSecret).toMatch(/^[A-Z2-7]+=*$/);
      await screenshot(page, 'mfa-enrolment-dark');
      await page.getByTestId('mfa-settings-code').fill(await nextTotp());
      await page.getByTestId('mfa-settings-submit').click();
      await page.getByTestId('backup-codes').waitFor();
      backupCodes = (await page.locator('.codes code').allTextContents()).map((c) => c.trim());
      expect(backupCodes.length).toBeGreaterThanOrEqual(5);
      await page.getByTestId('backup-codes-done').click();
      await expect.poll(() => page.getByTestId('mfa-status').textContent()).toContain('On since');

      // The early session asks for a code before the admin area (step-up), then continues where it was.
      await early.getByTestId('nav-admin').click();
      await early.getByTestId('step-up').waitFor();
      await screenshot(early, 'step-up-dark');
      await early.getByTestId('mfa-code').fill('12345678');
      await early.getByTestId('mfa-code').press('Enter');
      await early.getByTestId('notice-error').waitFor();
      await early.getByTestId('mfa-code').fill(await nextTotp());
      await early.getByTestId('mfa-code').press('Enter');
      await early.getByTestId('admin-tab-dashboard').waitFor();
      expect(await early.getByTestId('step-up').count()).toBe(0);
      expect(earlyProblems).toEqual([]);

      // A new launch now stops at the challenge: no tokens until the second factor.
      await open(page, ADMIN);
      await page.getByTestId('mfa-challenge').waitFor();
      await screenshot(page, 'mfa-challenge-dark');
      expect(await page.getByTestId('page-home').count()).toBe(0);
      // A wrong code is refused with a readable message.
      await page.getByTestId('mfa-code').fill('000000');
      await page.getByTestId('mfa-code').press('Enter');
      await page.getByTestId('notice-error').waitFor();
      // The right one, confirmed with Telegram's MainButton.
      await page.getByTestId('mfa-code').fill(await nextTotp());
      await fromTelegram(page, 'main_button_pressed');
      await page.getByTestId('page-home').waitFor();
      await expect.poll(() => page.getByTestId('check-mfa').textContent()).toContain('On');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 150_000);

  it('shows the admin dashboard to an admin with a fresh second factor, and every page light and dark at 360 px', async () => {
    expect(backupCodes.length, 'the MFA test enrolled the admin').toBeGreaterThan(2);
    const context = await newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await open(page, ADMIN);
      await page.getByTestId('mfa-challenge').waitFor();
      await page.getByTestId('mfa-code').fill(backupCodes[0] ?? '');
      await page.getByTestId('mfa-code').press('Enter');
      await page.getByTestId('page-home').waitFor();
      await page.getByTestId('nav-admin').click();
      // Admin reads need a second factor within 10 minutes: the sign-in's MFA code counts, so no new prompt.
      await page.getByTestId('admin-tab-dashboard').waitFor();
      expect(await page.getByTestId('step-up').count()).toBe(0);
      await page.getByTestId('admin-kpis').waitFor();

      await page.getByTestId('admin-tab-audit').click();
      await expect
        .poll(() => page.getByTestId('audit-chain-status').textContent(), { timeout: 20_000 })
        .toContain('Chain intact');
      await page.getByTestId('audit-entries').waitFor();
      await page.getByTestId('audit-action').fill('auth.');
      await page.getByTestId('audit-search').click();
      await expect.poll(() => page.getByTestId('audit-entries').textContent()).toContain('auth.login');

      await page.getByTestId('admin-tab-users').click();
      await expect.poll(() => page.getByTestId('admin-user').count()).toBeGreaterThanOrEqual(3);

      // The tour: every page in both themes, switched live as Telegram does.
      const pages: Array<[string, string, string | null]> = [
        ['home', 'page-home', null],
        ['mfa', 'page-mfa', null],
        ['sessions', 'page-sessions', null],
        ['api-keys', 'page-api-keys', null],
        ['oauth', 'page-oauth', null],
        ['privacy', 'page-privacy', null],
        ['admin', 'page-admin', 'dashboard'],
        ['admin', 'page-admin', 'audit'],
        ['admin', 'page-admin', 'decisions'],
        ['admin', 'page-admin', 'users'],
      ];
      for (const theme of ['light', 'dark'] as const) {
        await fromTelegram(page, 'theme_changed', { theme_params: THEMES[theme] });
        for (const [route, testId, tab] of pages) {
          await goTo(page, route);
          await page.getByTestId(testId).waitFor();
          if (tab) await page.getByTestId(`admin-tab-${tab}`).click();
          // Let the page's requests settle (loading → content, empty, or not-available states).
          await expect.poll(() => page.getByTestId('state-loading').count(), { timeout: 15_000 }).toBe(0);
          await screenshot(page, `${route}${tab ? `-${tab}` : ''}-${theme}`);
        }
      }
      // Nothing raw reached a person: no JSON error bodies or stack traces on any page.
      expect(await page.content()).not.toMatch(/"error":\{|at [A-Za-z]+ \(.*:\d+:\d+\)/);
      expect(problems).toEqual([]);
      expect(await page.evaluate(() => (window as unknown as Recorded).__cspViolations)).toEqual([]);
    } finally {
      await context.close();
    }
  }, 240_000);

  it('inside Telegram Web, talks to its parent frame on web.telegram.org only', async () => {
    if (!browser) throw new Error('the browser did not start (see beforeAll)');
    // No native proxy here: Telegram Web has none, so the app must fall back to postMessage.
    const context = await browser.newContext({ viewport: PHONE, locale: 'en-US' });
    try {
      const appUrl = `${server?.url}/app/${launchHash(USER)}`;
      // Telegram Web stands in: the same iframe embedding, served locally (no network in tests).
      await context.route('https://web.telegram.org/**', (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><html><body>
<iframe id="app" src="${appUrl}" width="360" height="700"></iframe>
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
      // Chromium's Local Network Access blocks a public page from framing 127.0.0.1 unless allowed; in
      // production the Mini App is public too, so this only lifts a test-setup artefact.
      await context.grantPermissions(['local-network-access'], { origin: 'https://web.telegram.org' });
      const page = await context.newPage();
      await page.goto('https://web.telegram.org/k/');
      const frame = await (await page.waitForSelector('#app')).contentFrame();
      if (!frame) throw new Error('the Mini App iframe has no frame');
      await frame.getByTestId('page-home').waitFor();
      type Received = Array<{ origin: string; data: string }>;
      const received = () => page.evaluate(() => (window as unknown as { received: Received }).received);
      await expect
        .poll(async () => (await received()).map((m) => (JSON.parse(m.data) as { eventType: string }).eventType))
        .toContain('web_app_ready');
      for (const message of await received()) expect(message.origin).toBe(origin);
      // The app is framed by Telegram's origin only (CSP frame-ancestors), and says so in its headers.
      const response = await context.request.get(`${server?.url}/app/`);
      expect(response.headers()['content-security-policy']).toContain('frame-ancestors https://web.telegram.org');
    } finally {
      await context.close();
    }
  }, 60_000);
});
