/**
 * Linking Google, GitHub and Discord end to end, against real OAuth servers on 127.0.0.1: the authorization
 * URL our server builds goes to the provider, the provider's redirect comes back to our callback, and the
 * link is stored (subject as a blind index only, name and email sealed), audited, confirmed in Telegram, and
 * listed for the Mini App. The threat covered: a link that lands on the wrong person, leaks the provider
 * account id or email into the database in clear, or happens without the owner hearing of it.
 */
import { QueueEvents } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_CSP } from '#server/plugins/security-headers.ts';
import { bullPrefix } from '#server/queues.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import type { OAuthProviderId } from '#shared/db/schema-oauth.ts';
import { createLogger } from '#shared/logger.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import {
  BROWSER_HEADERS,
  followAuthorization,
  injectPath,
  OAUTH_TEST_PUBLIC_URL,
  startAllStandIns,
} from '#test/helpers/oauth-providers.ts';
import { bearer, nextTelegramId, type SignedIn, signIn } from '#test/helpers/sign-in.ts';

let t: TestApp;
let standIns: Awaited<ReturnType<typeof startAllStandIns>>;
let workers: RunningWorkers;
let telegram: TestBot;

beforeAll(async () => {
  standIns = await startAllStandIns();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=1000/60', ...standIns.env } });
  telegram = createTestBot({ db: t.database.db });
  workers = await startWorkers({
    database: t.database,
    crypto: { ring: t.ring, userKeys: t.userKeys },
    audit: { signingKey: deriveAuditSigningKey(t.secrets.masterKey) },
    telegram: { botToken: TEST_BOT_TOKEN, apiRoot: 'https://api.telegram.invalid', fetch: telegram.fetch },
    logger: createLogger({ level: 'silent' }),
    connection: () => t.redis.createBullConnection(),
    redisPrefix: t.redisPrefix,
  });
});
afterAll(async () => {
  await workers?.close();
  await t?.close();
  await standIns?.close();
});

const providersOf = async (user: SignedIn) =>
  (await t.app.inject({ method: 'GET', url: '/api/v1/oauth/providers', headers: bearer(user.accessToken) })).json()
    .providers as {
    id: string;
    name: string;
    linked: boolean;
    displayName: string | null;
    email: string | null;
    linkedAt: string | null;
  }[];

async function link(provider: OAuthProviderId, user: SignedIn) {
  const start = await t.app.inject({
    method: 'POST',
    url: `/api/v1/oauth/${provider}/link`,
    headers: bearer(user.accessToken),
  });
  expect(start.statusCode).toBe(200);
  const { authorizationUrl } = start.json() as { authorizationUrl: string };
  const browser = await followAuthorization(authorizationUrl, `${OAUTH_TEST_PUBLIC_URL}/api/v1/oauth/`);
  if (!('callbackUrl' in browser)) throw new Error(`provider stopped: ${browser.status} ${browser.body.slice(0, 300)}`);
  return {
    authorizationUrl: new URL(authorizationUrl),
    callback: await t.app.inject({ method: 'GET', url: injectPath(browser.callbackUrl), headers: BROWSER_HEADERS }),
  };
}

describe('linking the three providers end to end', () => {
  it('lists only configured providers, none linked yet', async () => {
    const user = await signIn(t.app, { id: nextTelegramId(), first_name: 'Ada' });
    expect((await providersOf(user)).map((p) => [p.id, p.name, p.linked])).toEqual([
      ['google', 'Google', false],
      ['github', 'GitHub', false],
      ['discord', 'Discord', false],
    ]);
  });

  it('builds a code + PKCE S256 authorization request with a random state, and a nonce for Google only', async () => {
    const user = await signIn(t.app, { id: nextTelegramId(), first_name: 'Ada' });
    for (const provider of ['google', 'github', 'discord'] as const) {
      const response = await t.app.inject({
        method: 'POST',
        url: `/api/v1/oauth/${provider}/link`,
        headers: bearer(user.accessToken),
      });
      const url = new URL(response.json().authorizationUrl);
      expect(url.origin).toBe(standIns.byId[provider].issuer);
      expect(url.searchParams.get('response_type')).toBe('code');
      expect(url.searchParams.get('redirect_uri')).toBe(`${OAUTH_TEST_PUBLIC_URL}/api/v1/oauth/${provider}/callback`);
      expect(url.searchParams.get('code_challenge_method')).toBe('S256');
      expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(url.searchParams.has('nonce')).toBe(provider === 'google');
      // The state's record holds the verifier server-side, under the state's hash, for 10 minutes.
      const keys = await t.redis.client.keys(`${t.redisPrefix}:oauth:state:*`);
      expect(keys.join()).not.toContain(url.searchParams.get('state'));
    }
    const [key] = await t.redis.client.keys(`${t.redisPrefix}:oauth:state:*`);
    const ttl = await t.redis.client.ttl(key as string);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it('links Google, GitHub and Discord, stores nothing in clear, audits, and tells the person in Telegram', async () => {
    const telegramId = nextTelegramId();
    const user = await signIn(t.app, { id: telegramId, first_name: 'Ada', language_code: 'en' });
    standIns.google.loginAs({ id: 'g-1001', name: 'Ada Lovelace', email: 'ada@gmail.example', emailVerified: true });
    standIns.github.loginAs({ id: '583231', login: 'ada-l', name: 'Ada L.', email: 'ada@github.example' });
    standIns.discord.loginAs({ id: '80351110224678912', login: 'ada', name: 'Ada D', email: 'ada@discord.example' });
    const events = new QueueEvents('notify', {
      connection: t.redis.createBullConnection(),
      prefix: bullPrefix(t.redisPrefix),
    });
    await events.waitUntilReady();

    for (const provider of ['google', 'github', 'discord'] as const) {
      const { callback } = await link(provider, user);
      expect(callback.statusCode, callback.body).toBe(200);
      expect(callback.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(callback.body).toContain('account linked');
      expect(callback.body).toContain('go back to Telegram');
      // The callback page runs nothing and loads nothing: it renders under the API's strict CSP as is.
      expect(callback.headers['content-security-policy']).toBe(API_CSP);
      expect(callback.body).not.toMatch(/<script|<style|\sstyle=|<link|<img|\son[a-z]+=/i);
    }
    // GitHub's and Discord's user APIs were read with the access token (GitHub: /user and /user/emails).
    expect(standIns.github.requests).toEqual(expect.arrayContaining(['/user', '/user/emails']));
    expect(standIns.discord.requests).toContain('/api/v10/users/@me');

    const listed = await providersOf(user);
    expect(listed.map((p) => [p.id, p.linked, p.displayName, p.email])).toEqual([
      ['google', true, 'Ada Lovelace', 'ada@gmail.example'],
      ['github', true, 'Ada L.', 'ada@github.example'],
      ['discord', true, 'Ada D', 'ada@discord.example'],
    ]);
    for (const entry of listed) expect(Date.parse(entry.linkedAt as string)).toBeGreaterThan(Date.now() - 60_000);

    // At rest: no subject, name or email in clear anywhere in the row.
    const rows = (await t.database.db.execute(
      sql`select provider, subject_index, display_name, email, email_verified from oauth_links where user_id = ${user.userId}`,
    )) as unknown as { rows: Record<string, unknown>[] };
    expect(rows.rows).toHaveLength(3);
    const dump = JSON.stringify(
      rows.rows.map((row) => ({
        ...row,
        display_name: Buffer.from(row.display_name as Uint8Array).toString('latin1'),
        email: Buffer.from(row.email as Uint8Array).toString('latin1'),
      })),
    );
    for (const secret of ['g-1001', '583231', '80351110224678912', 'ada@', 'Ada L', 'Lovelace']) {
      expect(dump).not.toContain(secret);
    }
    for (const row of rows.rows) {
      expect(row.subject_index).toMatch(/^[0-9a-f]{64}$/);
      expect(row.email_verified).toBe(true);
    }

    // Audited, with the link as target.
    const audit = (await t.database.db.execute(
      sql`select action, result, target_type from audit_log where action = 'oauth.link' and actor_id = ${user.userId}`,
    )) as unknown as { rows: unknown[] };
    expect(audit.rows).toEqual(Array(3).fill({ action: 'oauth.link', result: 'success', target_type: 'oauth_link' }));

    // The bot confirmed each link, naming the provider (the job carried ids only).
    const jobs = await t.queues.notify.getJobs(['completed', 'waiting', 'active', 'delayed']);
    const linkedJobs = jobs.filter((job) => job.data.kind === 'oauth-linked' && job.data.userId === user.userId);
    expect(
      linkedJobs
        .map((job) => job.data as { provider?: string })
        .sort((a, b) => String(a.provider).localeCompare(String(b.provider))),
    ).toEqual([
      { kind: 'oauth-linked', userId: user.userId, provider: 'discord' },
      { kind: 'oauth-linked', userId: user.userId, provider: 'github' },
      { kind: 'oauth-linked', userId: user.userId, provider: 'google' },
    ]);
    for (const job of linkedJobs) if (!(await job.isCompleted())) await job.waitUntilFinished(events, 10_000);
    await events.close();
    const sent = telegram.callsOf('sendMessage').filter((call) => call.payload.chat_id === telegramId);
    expect(sent.map((call) => String(call.payload.text)).sort()).toEqual([
      '🔗 Your Discord account is now linked. If this was not you, unlink it in the app under Linked accounts.',
      '🔗 Your GitHub account is now linked. If this was not you, unlink it in the app under Linked accounts.',
      '🔗 Your Google account is now linked. If this was not you, unlink it in the app under Linked accounts.',
    ]);
  });

  it('re-linking the same account refreshes it; a second account of the same provider is refused', async () => {
    const user = await signIn(t.app, { id: nextTelegramId(), first_name: 'Bo' });
    standIns.github.loginAs({ id: '700001', login: 'bo', name: 'Bo' });
    expect((await link('github', user)).callback.statusCode).toBe(200);
    standIns.github.loginAs({ id: '700001', login: 'bo', name: 'Bo Renamed' });
    expect((await link('github', user)).callback.statusCode).toBe(200);
    expect((await providersOf(user)).find((p) => p.id === 'github')?.displayName).toBe('Bo Renamed');
    standIns.github.loginAs({ id: '700002', login: 'bo-alt' });
    const second = (await link('github', user)).callback;
    expect(second.statusCode).toBe(409);
    expect(second.body).toContain('OAUTH_PROVIDER_ALREADY_LINKED');
  });

  it('unlinks with the person’s session only, audited and confirmed; then the account can link again', async () => {
    const user = await signIn(t.app, { id: nextTelegramId(), first_name: 'Cy' });
    standIns.discord.loginAs({ id: '555000111', login: 'cy' });
    expect((await link('discord', user)).callback.statusCode).toBe(200);

    const anonymous = await t.app.inject({ method: 'DELETE', url: '/api/v1/oauth/discord' });
    expect(anonymous.statusCode).toBe(401);
    const unlink = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/oauth/discord',
      headers: bearer(user.accessToken),
    });
    expect(unlink.statusCode).toBe(204);
    expect((await providersOf(user)).find((p) => p.id === 'discord')?.linked).toBe(false);
    const again = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/oauth/discord',
      headers: bearer(user.accessToken),
    });
    expect(again.statusCode).toBe(404);
    expect(again.json().error.code).toBe('OAUTH_NOT_LINKED');
    const audit = (await t.database.db.execute(
      sql`select result from audit_log where action = 'oauth.unlink' and actor_id = ${user.userId}`,
    )) as unknown as { rows: unknown[] };
    expect(audit.rows).toEqual([{ result: 'success' }]);
    const jobs = await t.queues.notify.getJobs(['completed', 'waiting', 'active', 'delayed']);
    expect(jobs.some((job) => job.data.kind === 'oauth-unlinked' && job.data.userId === user.userId)).toBe(true);

    // Someone else can link that account now.
    const other = await signIn(t.app, { id: nextTelegramId(), first_name: 'Di' });
    expect((await link('discord', other)).callback.statusCode).toBe(200);
  });

  it('answers an unknown or unconfigured provider with 404 OAUTH_PROVIDER_UNKNOWN', async () => {
    const user = await signIn(t.app, { id: nextTelegramId(), first_name: 'Ed' });
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/oauth/facebook/link',
      headers: bearer(user.accessToken),
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('OAUTH_PROVIDER_UNKNOWN');
    const page = await t.app.inject({
      method: 'GET',
      url: '/api/v1/oauth/facebook/callback?code=x&state=y',
      headers: BROWSER_HEADERS,
    });
    expect(page.statusCode).toBe(404);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('Error code: OAUTH_PROVIDER_UNKNOWN');
  });

  it('answers callback errors as JSON to clients that do not ask for HTML (same status and code)', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: `/api/v1/oauth/github/callback?code=x&state=${'Q'.repeat(43)}`,
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/json');
    expect(response.json().error.code).toBe('OAUTH_STATE_INVALID');
  });
});
