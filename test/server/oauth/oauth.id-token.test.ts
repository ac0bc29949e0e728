/**
 * Threat: a forged or misdirected Google ID token makes us link (or sign in) the wrong account: a token minted
 * for another client (`aud`), by another issuer (`iss`), for another login (`nonce`), an expired one, or one
 * signed by a key that is not in the provider's JWKS. A hand-made OpenID provider returns each defect; every
 * one is refused with a clear page and nothing is linked. Its token endpoint also fails in the ways real
 * ones do (OAuth error, 500, not JSON, no answer), each a clear page, never a 500.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import {
  BROWSER_HEADERS,
  followAuthorization,
  injectPath,
  OAUTH_TEST_PUBLIC_URL,
  type RogueMode,
  type RogueOidc,
  startRogueOidc,
} from '#test/helpers/oauth-providers.ts';
import { bearer, nextTelegramId, type SignedIn, signIn } from '#test/helpers/sign-in.ts';

let t: TestApp;
let rogue: RogueOidc;
let user: SignedIn;

beforeAll(async () => {
  rogue = await startRogueOidc();
  t = await buildTestApp({
    env: {
      BOT_TOKEN: TEST_BOT_TOKEN,
      RATE_LIMITS: 'auth=1000/60',
      OAUTH_TIMEOUT_SECONDS: '1',
      PUBLIC_URL: OAUTH_TEST_PUBLIC_URL,
      ...rogue.env,
    },
  });
  user = await signIn(t.app, { id: nextTelegramId(), first_name: 'Ida' });
});
afterAll(async () => {
  await t?.close();
  await rogue?.close();
});

async function linkWith(mode: RogueMode) {
  rogue.mode = mode;
  const start = await t.app.inject({
    method: 'POST',
    url: '/api/v1/oauth/google/link',
    headers: bearer(user.accessToken),
  });
  expect(start.statusCode).toBe(200);
  const browser = await followAuthorization(start.json().authorizationUrl, `${OAUTH_TEST_PUBLIC_URL}/api/v1/oauth/`);
  if (!('callbackUrl' in browser)) throw new Error('the rogue provider did not redirect');
  return t.app.inject({ method: 'GET', url: injectPath(browser.callbackUrl), headers: BROWSER_HEADERS });
}

async function links(): Promise<number> {
  const result = (await t.database.db.execute(
    sql`select count(*)::int as n from oauth_links where user_id = ${user.userId}`,
  )) as unknown as { rows: { n: number }[] };
  return result.rows[0]?.n ?? 0;
}

describe('Google ID token validation', () => {
  it.each([
    ['wrong-aud', 'minted for another client'],
    ['wrong-iss', 'from another issuer'],
    ['wrong-nonce', 'for another login (nonce)'],
    ['no-nonce', 'without our nonce'],
    ['expired', 'expired'],
    ['foreign-signature', 'signed by a key not in the JWKS'],
  ] as const)('refuses an ID token %s (%s)', async (mode, _why) => {
    const response = await linkWith(mode);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toContain('Error code: OAUTH_ID_TOKEN_INVALID');
    expect(await links()).toBe(0);
  });

  it('accepts the same provider’s correct token (so each refusal above is the defect, not the setup)', async () => {
    const response = await linkWith('valid');
    expect(response.statusCode, response.body).toBe(200);
    expect(await links()).toBe(1);
    const listed = await t.app.inject({
      method: 'GET',
      url: '/api/v1/oauth/providers',
      headers: bearer(user.accessToken),
    });
    expect(listed.json().providers[0]).toMatchObject({ id: 'google', linked: true, email: 'rogue@example.com' });
    await t.app.inject({ method: 'DELETE', url: '/api/v1/oauth/google', headers: bearer(user.accessToken) });
  });
});

describe('token endpoint failures', () => {
  it.each([
    ['token-error', 400, 'OAUTH_CODE_REJECTED'],
    ['token-500', 503, 'OAUTH_PROVIDER_ERROR'],
    ['not-json', 503, 'OAUTH_PROVIDER_ERROR'],
    ['token-hang', 503, 'OAUTH_PROVIDER_TIMEOUT'],
  ] as const)('%s → %i %s page', async (mode, status, code) => {
    const started = Date.now();
    const response = await linkWith(mode);
    expect(response.statusCode, response.body).toBe(status);
    expect(response.body).toContain(`Error code: ${code}`);
    // The provider's own error text is never shown.
    expect(response.body).not.toContain('<b>x</b>');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await links()).toBe(0);
  });

  it('discovery failing (the issuer is down) gives an API error, not a 500', async () => {
    const down = await buildTestApp({
      env: {
        BOT_TOKEN: TEST_BOT_TOKEN,
        PUBLIC_URL: OAUTH_TEST_PUBLIC_URL,
        GOOGLE_CLIENT_ID: 'x',
        GOOGLE_CLIENT_SECRET: 'y',
        GOOGLE_ISSUER: 'http://127.0.0.1:9',
        OAUTH_TIMEOUT_SECONDS: '1',
      },
      database: t.database,
      secrets: t.secrets,
    });
    try {
      const someone = await signIn(down.app, { id: nextTelegramId(), first_name: 'Ola' });
      const response = await down.app.inject({
        method: 'POST',
        url: '/api/v1/oauth/google/link',
        headers: bearer(someone.accessToken),
      });
      expect(response.statusCode).toBe(503);
      expect(response.json().error.code).toBe('OAUTH_PROVIDER_ERROR');
    } finally {
      await down.close();
    }
  });
});
