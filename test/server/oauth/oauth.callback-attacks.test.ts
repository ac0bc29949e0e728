/**
 * Threat: a forged, replayed or tampered OAuth callback links an attacker's provider account to a victim (or
 * a victim's to an attacker): CSRF with a missing or foreign `state`, a reused or expired state, an
 * authorization code replayed or injected under another request, a PKCE verifier that does not match, a code
 * issued for another redirect URI, a provider account already linked to someone else, provider errors and
 * provider outages. Each is refused with a clear HTML page (never a 500) and nothing is linked.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_CSP } from '#server/plugins/security-headers.ts';
import { hashToken } from '#shared/crypto/hash.ts';
import type { OAuthProviderId } from '#shared/db/schema-oauth.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import {
  BROWSER_HEADERS,
  followAuthorization,
  injectPath,
  OAUTH_TEST_PUBLIC_URL,
  startAllStandIns,
} from '#test/helpers/oauth-providers.ts';
import { bearer, nextTelegramId, type SignedIn, signIn } from '#test/helpers/sign-in.ts';

/** A second redirect URI registered for our client at the provider: where an attacker obtains a code. */
const OTHER_REDIRECT = 'http://127.0.0.1:39998/elsewhere';

let t: TestApp;
let standIns: Awaited<ReturnType<typeof startAllStandIns>>;

beforeAll(async () => {
  standIns = await startAllStandIns([OTHER_REDIRECT]);
  t = await buildTestApp({
    env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=1000/60', OAUTH_TIMEOUT_SECONDS: '1', ...standIns.env },
  });
});
afterAll(async () => {
  await t?.close();
  await standIns?.close();
});

async function startLink(provider: OAuthProviderId, user: SignedIn): Promise<URL> {
  const response = await t.app.inject({
    method: 'POST',
    url: `/api/v1/oauth/${provider}/link`,
    headers: bearer(user.accessToken),
  });
  expect(response.statusCode).toBe(200);
  return new URL(response.json().authorizationUrl);
}

/** Drives the browser through the provider; returns our callback URL (not yet delivered). */
async function providerRedirect(authorizationUrl: URL, prefix = `${OAUTH_TEST_PUBLIC_URL}/api/v1/oauth/`) {
  const browser = await followAuthorization(authorizationUrl.href, prefix);
  if (!('callbackUrl' in browser)) throw new Error(`provider stopped: ${browser.status} ${browser.body.slice(0, 200)}`);
  return browser.callbackUrl;
}

const deliver = (path: string) => t.app.inject({ method: 'GET', url: path, headers: BROWSER_HEADERS });

async function linkCount(userId: string): Promise<number> {
  const result = (await t.database.db.execute(
    sql`select count(*)::int as n from oauth_links where user_id = ${userId}`,
  )) as unknown as { rows: { n: number }[] };
  return result.rows[0]?.n ?? 0;
}

function expectErrorPage(response: Awaited<ReturnType<typeof deliver>>, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(response.headers['content-security-policy']).toBe(API_CSP);
  expect(response.body).toContain(`Error code: ${code}`);
  expect(response.body).toContain('That did not work');
  expect(response.body).not.toMatch(/<script|<style|style=/i);
}

const newUser = () => signIn(t.app, { id: nextTelegramId(), first_name: 'Vic' });
const stateKey = (state: string) => `${t.redisPrefix}:oauth:state:${hashToken(state)}`;

describe('state', () => {
  it('is required: a callback without state is refused and nothing is exchanged', async () => {
    const user = await newUser();
    standIns.github.loginAs({ id: '9000001' });
    const callback = await providerRedirect(await startLink('github', user));
    callback.searchParams.delete('state');
    expectErrorPage(await deliver(injectPath(callback)), 400, 'OAUTH_STATE_INVALID');
    expect(await linkCount(user.userId)).toBe(0);
  });

  it('must be ours: a foreign or altered state is refused (login CSRF / code injection)', async () => {
    const user = await newUser();
    standIns.github.loginAs({ id: '9000002' });
    const callback = await providerRedirect(await startLink('github', user));
    for (const forged of ['attacker-state', `${callback.searchParams.get('state')?.slice(0, -1)}A`, 'x'.repeat(400)]) {
      const altered = new URL(callback);
      altered.searchParams.set('state', forged);
      expectErrorPage(await deliver(injectPath(altered)), 400, 'OAUTH_STATE_INVALID');
    }
    expect(await linkCount(user.userId)).toBe(0);
  });

  it('is single use: the same callback delivered twice links once, then is refused', async () => {
    const user = await newUser();
    standIns.github.loginAs({ id: '9000003' });
    const callback = await providerRedirect(await startLink('github', user));
    expect((await deliver(injectPath(callback))).statusCode).toBe(200);
    expectErrorPage(await deliver(injectPath(callback)), 400, 'OAUTH_STATE_INVALID');
    expect(await linkCount(user.userId)).toBe(1);
  });

  it('expires after 10 minutes (Redis TTL), and a record that outlived its TTL is refused too', async () => {
    const user = await newUser();
    standIns.discord.loginAs({ id: '9000004' });
    const callback = await providerRedirect(await startLink('discord', user));
    const key = stateKey(callback.searchParams.get('state') as string);
    await t.redis.client.pexpire(key, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expectErrorPage(await deliver(injectPath(callback)), 400, 'OAUTH_STATE_INVALID');

    const second = await providerRedirect(await startLink('discord', user));
    const secondKey = stateKey(second.searchParams.get('state') as string);
    const record = JSON.parse((await t.redis.client.get(secondKey)) as string);
    await t.redis.client.set(secondKey, JSON.stringify({ ...record, createdAt: Date.now() - 601_000 }), 'EX', 600);
    expectErrorPage(await deliver(injectPath(second)), 400, 'OAUTH_STATE_INVALID');
    expect(await linkCount(user.userId)).toBe(0);
  });

  it('is bound to its provider: a GitHub state delivered to the Discord callback is refused and spent', async () => {
    const user = await newUser();
    standIns.github.loginAs({ id: '9000005' });
    const callback = await providerRedirect(await startLink('github', user));
    const crossed = new URL(callback);
    crossed.pathname = '/api/v1/oauth/discord/callback';
    expectErrorPage(await deliver(injectPath(crossed)), 400, 'OAUTH_STATE_INVALID');
    expectErrorPage(await deliver(injectPath(callback)), 400, 'OAUTH_STATE_INVALID');
  });

  it('is bound to the person who started: the link goes to them, whoever’s browser finishes', async () => {
    const victim = await newUser();
    const attacker = await newUser();
    standIns.google.loginAs({ id: 'g-attacker', email: 'mallory@example.com' });
    // The attacker starts a link from their session and makes the victim's browser finish it:
    const callback = await providerRedirect(await startLink('google', attacker));
    expect((await deliver(injectPath(callback))).statusCode).toBe(200);
    expect(await linkCount(attacker.userId)).toBe(1);
    expect(await linkCount(victim.userId)).toBe(0);
  });
});

describe('PKCE and the code exchange', () => {
  it('refuses when the stored verifier does not match the challenge (the provider checks it)', async () => {
    const user = await newUser();
    standIns.google.loginAs({ id: 'g-pkce-1' });
    const callback = await providerRedirect(await startLink('google', user));
    const key = stateKey(callback.searchParams.get('state') as string);
    const record = JSON.parse((await t.redis.client.get(key)) as string);
    await t.redis.client.set(key, JSON.stringify({ ...record, codeVerifier: `${'w'.repeat(43)}` }), 'EX', 600);
    expectErrorPage(await deliver(injectPath(callback)), 400, 'OAUTH_CODE_REJECTED');
    expect(await linkCount(user.userId)).toBe(0);
  });

  it('refuses when the verifier is missing (never exchanges without PKCE)', async () => {
    const user = await newUser();
    standIns.github.loginAs({ id: '9000006' });
    const callback = await providerRedirect(await startLink('github', user));
    const key = stateKey(callback.searchParams.get('state') as string);
    const { codeVerifier: _dropped, ...record } = JSON.parse((await t.redis.client.get(key)) as string);
    await t.redis.client.set(key, JSON.stringify(record), 'EX', 600);
    const before = standIns.github.requests.filter((path) => path === '/token').length;
    expectErrorPage(await deliver(injectPath(callback)), 400, 'OAUTH_STATE_INVALID');
    expect(standIns.github.requests.filter((path) => path === '/token').length).toBe(before);
  });

  it('refuses a replayed code injected under a fresh state', async () => {
    const user = await newUser();
    standIns.discord.loginAs({ id: '9000007' });
    const first = await providerRedirect(await startLink('discord', user));
    expect((await deliver(injectPath(first))).statusCode).toBe(200);
    // The attacker replays the used code with a state of a new request of theirs.
    const fresh = await startLink('discord', user);
    const injected = new URL(first);
    injected.searchParams.set('state', fresh.searchParams.get('state') as string);
    expectErrorPage(await deliver(injectPath(injected)), 400, 'OAUTH_CODE_REJECTED');
  });

  it('refuses a code issued for another redirect URI, even with the right state and PKCE challenge', async () => {
    const user = await newUser();
    standIns.github.loginAs({ id: '9000008' });
    const ours = await startLink('github', user);
    // Same request (state, challenge) but redirect_uri pointing elsewhere, where the attacker collects the code.
    const diverted = new URL(ours);
    diverted.searchParams.set('redirect_uri', OTHER_REDIRECT);
    const elsewhere = await providerRedirect(diverted, OTHER_REDIRECT);
    const injected = new URL(`${OAUTH_TEST_PUBLIC_URL}/api/v1/oauth/github/callback`);
    for (const [name, value] of elsewhere.searchParams) injected.searchParams.set(name, value);
    expect(injected.searchParams.get('state')).toBe(ours.searchParams.get('state'));
    expectErrorPage(await deliver(injectPath(injected)), 400, 'OAUTH_CODE_REJECTED');
    expect(await linkCount(user.userId)).toBe(0);
  });

  it('the provider refuses an authorization request for an unregistered redirect URI (no code at all)', async () => {
    const user = await newUser();
    const ours = await startLink('google', user);
    ours.searchParams.set('redirect_uri', 'http://127.0.0.1:39997/not-registered');
    const browser = await followAuthorization(ours.href, 'http://127.0.0.1:39997/');
    expect('callbackUrl' in browser).toBe(false);
  });
});

describe('provider errors and outages give a clear page, never a 500', () => {
  it('access denied at the provider (the person cancelled)', async () => {
    const user = await newUser();
    const request = await startLink('github', user);
    const path = `/api/v1/oauth/github/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=${request.searchParams.get('state')}`;
    const response = await deliver(path);
    expectErrorPage(response, 400, 'OAUTH_ACCESS_DENIED');
    expect(response.body).not.toContain('alert(1)'); // nothing the provider sent is echoed
  });

  it('another provider error code in the redirect', async () => {
    const user = await newUser();
    const request = await startLink('discord', user);
    const response = await deliver(
      `/api/v1/oauth/discord/callback?error=temporarily_unavailable&state=${request.searchParams.get('state')}`,
    );
    expectErrorPage(response, 503, 'OAUTH_PROVIDER_ERROR');
  });

  it('the user API answers 500, or does not answer within OAUTH_TIMEOUT_SECONDS', async () => {
    const user = await newUser();
    standIns.github.loginAs({ id: '9000009' });
    standIns.github.failUserApi(500);
    try {
      const callback = await providerRedirect(await startLink('github', user));
      expectErrorPage(await deliver(injectPath(callback)), 503, 'OAUTH_PROVIDER_ERROR');
      standIns.github.failUserApi('hang');
      const slow = await providerRedirect(await startLink('github', user));
      const started = Date.now();
      expectErrorPage(await deliver(injectPath(slow)), 503, 'OAUTH_PROVIDER_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      standIns.github.failUserApi(undefined);
    }
    expect(await linkCount(user.userId)).toBe(0);
  });
});

describe('one provider account, one person', () => {
  it('refuses linking an account already linked to another Telegram user, and never merges by email', async () => {
    const first = await newUser();
    const second = await newUser();
    standIns.google.loginAs({ id: 'g-shared', email: 'shared@example.com', emailVerified: true });
    expect((await deliver(injectPath(await providerRedirect(await startLink('google', first))))).statusCode).toBe(200);
    const conflict = await deliver(injectPath(await providerRedirect(await startLink('google', second))));
    expectErrorPage(conflict, 409, 'OAUTH_ACCOUNT_LINKED_ELSEWHERE');
    expect(conflict.body).toContain('never merged');
    expect(await linkCount(second.userId)).toBe(0);

    // Another Google account with the same email links fine: email is not identity.
    standIns.google.loginAs({ id: 'g-other', email: 'shared@example.com', emailVerified: true });
    expect((await deliver(injectPath(await providerRedirect(await startLink('google', second))))).statusCode).toBe(200);

    const audit = (await t.database.db.execute(
      sql`select result, reason_code from audit_log where action = 'oauth.link' and actor_id = ${second.userId} order by seq`,
    )) as unknown as { rows: unknown[] };
    expect(audit.rows).toEqual([
      { result: 'denied', reason_code: 'OAUTH_ACCOUNT_LINKED_ELSEWHERE' },
      { result: 'success', reason_code: null },
    ]);
  });
});
