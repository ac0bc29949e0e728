/**
 * Threat: "sign in with Google/GitHub/Discord" becomes a way around our own sign-in: a provider account nobody
 * linked registers itself, the second factor is skipped, tokens travel in a URL where history, logs and
 * referrers keep them, or a sign-in started by an attacker delivers a victim's result to the attacker's site.
 * The external client runs its own PKCE: the callback sends back only a one-time code, bound to the client's
 * challenge, to a loopback or configured redirect URI; the code is redeemed once, with the verifier, for the
 * same token pair as Telegram sign-in (`amr` names the provider), or for the MFA challenge.
 */
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '#shared/crypto/hash.ts';
import type { OAuthProviderId } from '#shared/db/schema-oauth.ts';
import { generateTotp } from '#shared/mfa/totp.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import {
  BROWSER_HEADERS,
  followAuthorization,
  injectPath,
  linkThroughBrowser,
  OAUTH_TEST_PUBLIC_URL,
  startAllStandIns,
} from '#test/helpers/oauth-providers.ts';
import { bearer, nextTelegramId, signIn } from '#test/helpers/sign-in.ts';

const CLIENT_REDIRECT = 'http://127.0.0.1:45555/signed-in';
const CONFIGURED_REDIRECT = 'https://app.example.com/oauth/done';

let t: TestApp;
let standIns: Awaited<ReturnType<typeof startAllStandIns>>;

beforeAll(async () => {
  standIns = await startAllStandIns();
  t = await buildTestApp({
    env: {
      BOT_TOKEN: TEST_BOT_TOKEN,
      RATE_LIMITS: 'auth=1000/60',
      OAUTH_SIGNIN_REDIRECT_URIS: CONFIGURED_REDIRECT,
      ...standIns.env,
    },
  });
});
afterAll(async () => {
  await t?.close();
  await standIns?.close();
});

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const startSignIn = (provider: OAuthProviderId, body: Record<string, unknown>) =>
  t.app.inject({ method: 'POST', url: `/api/v1/auth/oauth/${provider}/start`, payload: body });

/** Runs the browser part of an external sign-in; returns our callback's response. */
async function signInBrowser(provider: OAuthProviderId, challenge: string, redirectUri = CLIENT_REDIRECT) {
  const start = await startSignIn(provider, {
    redirectUri,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    state: 'client-state-42',
  });
  expect(start.statusCode, start.body).toBe(200);
  const browser = await followAuthorization(start.json().authorizationUrl, `${OAUTH_TEST_PUBLIC_URL}/api/v1/oauth/`);
  if (!('callbackUrl' in browser)) throw new Error(`provider stopped: ${browser.status}`);
  return t.app.inject({ method: 'GET', url: injectPath(browser.callbackUrl), headers: BROWSER_HEADERS });
}

const redeem = (code: string, codeVerifier: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/oauth/token', payload: { code, codeVerifier } });

async function userCount(): Promise<number> {
  const result = (await t.database.db.execute(sql`select count(*)::int as n from users`)) as unknown as {
    rows: { n: number }[];
  };
  return result.rows[0]?.n ?? 0;
}

describe('sign-in with a linked account', () => {
  it('refuses a provider account nobody linked, and registers no one', async () => {
    standIns.github.loginAs({ id: '31000001', login: 'stranger' });
    const before = await userCount();
    const { challenge } = pkce();
    const response = await signInBrowser('github', challenge);
    expect(response.statusCode).toBe(403);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toContain('Error code: OAUTH_ACCOUNT_UNKNOWN');
    expect(response.headers.location).toBeUndefined();
    expect(await userCount()).toBe(before);
    const audit = (await t.database.db.execute(
      sql`select result from audit_log where action = 'auth.login' and reason_code = 'OAUTH_ACCOUNT_UNKNOWN'`,
    )) as unknown as { rows: unknown[] };
    expect(audit.rows).toEqual([{ result: 'denied' }]);
  });

  it('gives the same token pair as Telegram sign-in, amr naming the provider, via a one-time code (no token in any URL)', async () => {
    const owner = await signIn(t.app, { id: nextTelegramId(), first_name: 'Flo' });
    standIns.google.loginAs({ id: 'g-flo', email: 'flo@example.com' });
    expect((await linkThroughBrowser(t.app, 'google', owner.accessToken)).statusCode).toBe(200);

    const { verifier, challenge } = pkce();
    const callback = await signInBrowser('google', challenge);
    expect(callback.statusCode).toBe(302);
    const location = new URL(callback.headers.location as string);
    expect(`${location.origin}${location.pathname}`).toBe(CLIENT_REDIRECT);
    expect([...location.searchParams.keys()].sort()).toEqual(['code', 'state']);
    expect(location.searchParams.get('state')).toBe('client-state-42');
    const code = location.searchParams.get('code') as string;
    expect(code).not.toMatch(/^ey/); // an opaque code, not a JWT
    // Stored only as a hash, for one minute.
    expect(await t.redis.client.ttl(`${t.redisPrefix}:oauth:exchange:${hashToken(code)}`)).toBeGreaterThan(50);

    const tokens = await redeem(code, verifier);
    expect(tokens.statusCode, tokens.body).toBe(200);
    const body = tokens.json();
    expect(Object.keys(body).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'tokenType', 'user']);
    expect(body.user.id).toBe(owner.userId);
    expect(decodeJwt(body.accessToken).amr).toEqual(['google']);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(body.accessToken) });
    expect(me.json().user.telegramId).toBe(owner.telegramId);
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: body.refreshToken },
    });
    expect(refreshed.statusCode).toBe(200);

    // The code is single use.
    const again = await redeem(code, verifier);
    expect(again.statusCode).toBe(400);
    expect(again.json().error.code).toBe('OAUTH_EXCHANGE_INVALID');
  });

  it('needs the client’s own verifier: a stolen code is useless, and a wrong guess burns it', async () => {
    const owner = await signIn(t.app, { id: nextTelegramId(), first_name: 'Gus' });
    standIns.discord.loginAs({ id: '4400110022', login: 'gus' });
    expect((await linkThroughBrowser(t.app, 'discord', owner.accessToken)).statusCode).toBe(200);
    const { verifier, challenge } = pkce();
    const callback = await signInBrowser('discord', challenge);
    const code = new URL(callback.headers.location as string).searchParams.get('code') as string;
    const thief = await redeem(code, pkce().verifier);
    expect(thief.statusCode).toBe(400);
    expect(thief.json().error.code).toBe('OAUTH_EXCHANGE_INVALID');
    expect((await redeem(code, verifier)).statusCode).toBe(400); // burnt
  });

  it('expires the one-time code', async () => {
    const owner = await signIn(t.app, { id: nextTelegramId(), first_name: 'Hal' });
    standIns.github.loginAs({ id: '31000002', login: 'hal' });
    expect((await linkThroughBrowser(t.app, 'github', owner.accessToken)).statusCode).toBe(200);
    const { verifier, challenge } = pkce();
    const code = new URL((await signInBrowser('github', challenge)).headers.location as string).searchParams.get(
      'code',
    ) as string;
    await t.redis.client.pexpire(`${t.redisPrefix}:oauth:exchange:${hashToken(code)}`, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await redeem(code, verifier)).statusCode).toBe(400);
  });

  it('accepts only loopback or configured redirect URIs (no open redirect for someone else’s sign-in)', async () => {
    const { challenge } = pkce();
    for (const redirectUri of [
      'https://evil.example/steal',
      'http://localhost.evil.example:8080/cb',
      'http://127.0.0.1.evil.example/cb',
      'https://app.example.com/oauth/done/../elsewhere',
      'http://127.0.0.1:45555/cb#fragment',
      'javascript:alert(1)',
    ]) {
      const response = await startSignIn('github', {
        redirectUri,
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
      });
      expect(response.statusCode, redirectUri).toBe(400);
      expect(response.json().error.code).toBe('OAUTH_REDIRECT_URI_NOT_ALLOWED');
    }
    for (const redirectUri of [CONFIGURED_REDIRECT, 'http://127.0.0.1:9/cb', 'http://[::1]:8080/']) {
      const response = await startSignIn('github', {
        redirectUri,
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
      });
      expect(response.statusCode, redirectUri).toBe(200);
    }
    // PKCE is mandatory, S256 only.
    const plain = await startSignIn('github', {
      redirectUri: CLIENT_REDIRECT,
      codeChallenge: challenge,
      codeChallengeMethod: 'plain',
    });
    expect(plain.statusCode).toBe(400);
    const none = await startSignIn('github', { redirectUri: CLIENT_REDIRECT });
    expect(none.statusCode).toBe(400);
  });

  it('enforces MFA: a person with two-factor codes gets the challenge, and tokens only after the code', async () => {
    const owner = await signIn(t.app, { id: nextTelegramId(), first_name: 'Ivy' });
    standIns.github.loginAs({ id: '31000003', login: 'ivy' });
    expect((await linkThroughBrowser(t.app, 'github', owner.accessToken)).statusCode).toBe(200);
    const { secret } = await t.services.mfa.startEnrolment(owner.userId, 'ivy');
    await t.services.mfa.confirmEnrolment(
      owner.userId,
      await generateTotp({ secret, nowSeconds: Math.floor(Date.now() / 1000) }),
      'api',
    );

    const { verifier, challenge } = pkce();
    const code = new URL((await signInBrowser('github', challenge)).headers.location as string).searchParams.get(
      'code',
    ) as string;
    const first = await redeem(code, verifier);
    expect(first.statusCode).toBe(200);
    const body = first.json();
    expect(body).toMatchObject({ mfaRequired: true, methods: ['totp', 'backup_code'] });
    expect(body.accessToken).toBeUndefined();
    expect(body.refreshToken).toBeUndefined();

    // The next TOTP step's code (the enrolment used the current one: a replay guard refuses it again).
    const nextStep = await generateTotp({ secret, nowSeconds: Math.floor(Date.now() / 1000) + 30 });
    const verified = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/verify',
      payload: { challenge: body.challenge, code: nextStep },
    });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(decodeJwt(verified.json().accessToken).amr).toEqual(['github', 'otp']);
  });

  it('a finished link answers with a page and never redirects (only sign-in states carry a client redirect)', async () => {
    const owner = await signIn(t.app, { id: nextTelegramId(), first_name: 'Jo' });
    standIns.discord.loginAs({ id: '4400110099', login: 'jo' });
    const linked = await linkThroughBrowser(t.app, 'discord', owner.accessToken);
    expect(linked.statusCode).toBe(200);
    expect(linked.headers.location).toBeUndefined(); // a link never redirects anywhere
  });
});
