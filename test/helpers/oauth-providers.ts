/**
 * Stand-ins for Google, GitHub and Discord, on 127.0.0.1 (the machine cannot reach the real ones):
 * - `startProviderStandIn('google')`: `oidc-provider` as a real OpenID provider (discovery, PKCE, nonce,
 *   RS256 ID tokens from its JWKS), login and consent finished automatically for `loginAs(account)`.
 * - `startProviderStandIn('github' | 'discord')`: the same server in plain OAuth 2.0 mode (no `openid`
 *   scope, no ID token) plus user APIs shaped like GitHub's `GET /user` and `GET /user/emails` and Discord's
 *   `GET /users/@me` documented responses, answering only to access tokens the server issued.
 * - `startRogueOidc()`: a tiny hand-made OpenID provider (jose) whose token endpoint returns ID tokens with a
 *   chosen defect (wrong aud/iss/nonce, expired, foreign signature) or errors and hangs.
 * - `followAuthorization(url, callbackPrefix)`: a browser without a screen: follows redirects with cookies until
 *   the provider sends it to our callback, and returns that URL.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';
import type { App } from '#server/app.ts';
import type { OAuthProviderId } from '#shared/db/schema-oauth.ts';

export interface StandInAccount {
  /** Google `sub`; GitHub numeric id (as text); Discord snowflake. */
  id: string;
  name?: string;
  /** GitHub login / Discord username. */
  login?: string;
  email?: string;
  emailVerified?: boolean;
}

export interface ProviderStandIn {
  provider: OAuthProviderId;
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The env keys that point our app at this stand-in. */
  env: Record<string, string>;
  /** The account the next login signs in as. */
  loginAs(account: StandInAccount): void;
  /** Makes the user API answer with this status (or never answer: 'hang') until cleared with undefined. */
  failUserApi(mode: number | 'hang' | undefined): void;
  /** Every request path the stand-in served (to assert what our server called). */
  requests: string[];
  close(): Promise<void>;
}

const SCOPES = ['openid', 'email', 'profile', 'read:user', 'user:email', 'identify'];

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** GitHub's documented `GET /user` response (authenticated user, abridged only of nothing we would read). */
function githubUser(account: StandInAccount) {
  const login = account.login ?? `user${account.id}`;
  return {
    login,
    id: Number(account.id),
    node_id: 'MDQ6VXNlcjE=',
    avatar_url: `https://github.com/images/error/${login}_happy.gif`,
    gravatar_id: '',
    url: `https://api.github.com/users/${login}`,
    html_url: `https://github.com/${login}`,
    type: 'User',
    site_admin: false,
    name: account.name ?? null,
    company: null,
    blog: '',
    location: null,
    email: null, // public email only; private addresses come from /user/emails
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: 2,
    public_gists: 1,
    followers: 20,
    following: 0,
    created_at: '2008-01-14T04:33:35Z',
    updated_at: '2008-01-14T04:33:35Z',
  };
}

/** GitHub's documented `GET /user/emails` response. */
function githubEmails(account: StandInAccount) {
  const emails = [
    { email: `${account.id}+noreply@users.noreply.github.com`, verified: true, primary: false, visibility: null },
  ];
  if (account.email) {
    emails.unshift({
      email: account.email,
      verified: account.emailVerified ?? true,
      primary: true,
      visibility: 'private' as never,
    });
  }
  return emails;
}

/** Discord's documented `GET /users/@me` response (email and verified need the `email` scope). */
function discordUser(account: StandInAccount, scopes: string[]) {
  return {
    id: account.id,
    username: account.login ?? `user${account.id}`,
    discriminator: '0',
    global_name: account.name ?? null,
    avatar: '8342729096ea3675442027381ff50dfe',
    bot: false,
    mfa_enabled: true,
    banner: null,
    accent_color: null,
    locale: 'en-US',
    flags: 64,
    premium_type: 0,
    public_flags: 64,
    ...(scopes.includes('email') ? { verified: account.emailVerified ?? true, email: account.email ?? null } : {}),
  };
}

/**
 * Starts a provider stand-in. `redirectUris` are the exact redirect URIs registered for our client.
 */
export async function startProviderStandIn(
  provider: OAuthProviderId,
  options: { redirectUris: string[] },
): Promise<ProviderStandIn> {
  const server = createServer();
  const issuer = await listen(server);
  const clientId = `${provider}-client`;
  const clientSecret = `${provider}-secret-${Math.random().toString(36).slice(2)}`;
  let current: StandInAccount = { id: '1' };
  const accounts = new Map<string, StandInAccount>();
  let userApiFailure: number | 'hang' | undefined;
  const requests: string[] = [];
  const hanging = new Set<ServerResponse>();

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `${provider}-key`, alg: 'RS256', use: 'sig' };
  const oidc = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [jwk as never] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    scopes: SCOPES,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // As Google does: the email and name claims go into the ID token itself.
    conformIdTokenClaims: false,
    cookies: { keys: ['stand-in-cookie-key-0123456789abcdef'] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
    findAccount: async (_ctx, id) => {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          ...(account.email ? { email: account.email, email_verified: account.emailVerified ?? true } : {}),
          ...(account.name ? { name: account.name } : {}),
        }),
      };
    },
  });
  const handle = oidc.callback();

  async function interaction(req: IncomingMessage, res: ServerResponse) {
    const details = await oidc.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      accounts.set(current.id, current);
      await oidc.interactionFinished(
        req,
        res,
        { login: { accountId: current.id } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const accountId = details.session?.accountId as string;
    const grant = details.grantId
      ? ((await oidc.Grant.find(details.grantId)) as InstanceType<typeof oidc.Grant>)
      : new oidc.Grant({ accountId, clientId: details.params.client_id as string });
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await oidc.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  async function userApi(req: IncomingMessage, res: ServerResponse, path: string) {
    if (userApiFailure === 'hang') {
      hanging.add(res);
      return;
    }
    if (userApiFailure !== undefined) return json(res, userApiFailure, { message: 'Server Error' });
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const found = token ? await oidc.AccessToken.find(token) : undefined;
    const account = found ? accounts.get(found.accountId) : undefined;
    if (!found || !account) {
      return provider === 'github'
        ? json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' })
        : json(res, 401, { message: '401: Unauthorized', code: 0 });
    }
    const scopes = (found.scope ?? '').split(' ');
    if (provider === 'github' && path === '/user') return json(res, 200, githubUser(account));
    if (provider === 'github' && path === '/user/emails') {
      // GitHub: 404 without the user:email scope.
      if (!scopes.includes('user:email')) return json(res, 404, { message: 'Not Found' });
      return json(res, 200, githubEmails(account));
    }
    if (provider === 'discord' && path === '/api/v10/users/@me') return json(res, 200, discordUser(account, scopes));
    return json(res, 404, { message: 'Not Found' });
  }

  const userPaths =
    provider === 'github' ? ['/user', '/user/emails'] : provider === 'discord' ? ['/api/v10/users/@me'] : [];
  server.on('request', (req, res) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    requests.push(path);
    const done = (error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', detail: String(error) });
    };
    if (path.startsWith('/interaction/')) interaction(req, res).catch(done);
    else if (userPaths.includes(path)) userApi(req, res, path).catch(done);
    else handle(req, res);
  });

  const env: Record<string, string> =
    provider === 'google'
      ? { GOOGLE_CLIENT_ID: clientId, GOOGLE_CLIENT_SECRET: clientSecret, GOOGLE_ISSUER: issuer }
      : provider === 'github'
        ? {
            GITHUB_CLIENT_ID: clientId,
            GITHUB_CLIENT_SECRET: clientSecret,
            GITHUB_AUTHORIZATION_URL: `${issuer}/auth`,
            GITHUB_TOKEN_URL: `${issuer}/token`,
            GITHUB_API_URL: issuer,
          }
        : {
            DISCORD_CLIENT_ID: clientId,
            DISCORD_CLIENT_SECRET: clientSecret,
            DISCORD_AUTHORIZATION_URL: `${issuer}/auth`,
            DISCORD_TOKEN_URL: `${issuer}/token`,
            DISCORD_API_URL: `${issuer}/api/v10`,
          };

  return {
    provider,
    issuer,
    clientId,
    clientSecret,
    env,
    requests,
    loginAs(account) {
      current = account;
    },
    failUserApi(mode) {
      userApiFailure = mode;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What the rogue provider's token endpoint does. */
export type RogueMode =
  | 'valid'
  | 'wrong-aud'
  | 'wrong-iss'
  | 'wrong-nonce'
  | 'no-nonce'
  | 'expired'
  | 'foreign-signature'
  | 'token-error'
  | 'token-500'
  | 'token-hang'
  | 'not-json';

export interface RogueOidc {
  issuer: string;
  clientId: string;
  env: Record<string, string>;
  mode: RogueMode;
  close(): Promise<void>;
}

/**
 * A hand-made OpenID provider whose ID tokens are wrong in one chosen way (`rogue.mode = …`). Its authorization
 * endpoint redirects at once with a code and remembers the request's nonce, so only the chosen defect differs.
 */
export async function startRogueOidc(): Promise<RogueOidc> {
  const server = createServer();
  const issuer = await listen(server);
  const clientId = 'rogue-client';
  const signing = await generateKeyPair('ES256');
  const foreign = await generateKeyPair('ES256');
  const publicJwk = { ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const nonces = new Map<string, string>();
  const hanging = new Set<ServerResponse>();
  const rogue: RogueOidc = {
    issuer,
    clientId,
    mode: 'valid',
    env: { GOOGLE_CLIENT_ID: clientId, GOOGLE_CLIENT_SECRET: 'rogue-secret', GOOGLE_ISSUER: issuer },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  async function idToken(nonce: string | undefined): Promise<string> {
    const mode = rogue.mode;
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      email: 'rogue@example.com',
      email_verified: true,
      ...(mode === 'no-nonce' ? {} : { nonce: mode === 'wrong-nonce' ? 'not-the-nonce' : nonce }),
    };
    const key = mode === 'foreign-signature' ? foreign.privateKey : signing.privateKey;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(mode === 'wrong-iss' ? 'https://accounts.example.invalid' : issuer)
      .setAudience(mode === 'wrong-aud' ? 'someone-else' : clientId)
      .setSubject('rogue-subject-1')
      .setIssuedAt(mode === 'expired' ? now - 7200 : now)
      .setExpirationTime(mode === 'expired' ? now - 3600 : now + 600)
      .sign(key);
  }

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [publicJwk] });
    if (url.pathname === '/authorize') {
      const code = `code-${Math.random().toString(36).slice(2)}`;
      nonces.set(code, url.searchParams.get('nonce') ?? '');
      const target = new URL(url.searchParams.get('redirect_uri') ?? '');
      target.searchParams.set('code', code);
      target.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: target.href });
      return res.end();
    }
    if (url.pathname === '/token') {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        const code = new URLSearchParams(body).get('code') ?? '';
        const mode = rogue.mode;
        if (mode === 'token-hang') {
          hanging.add(res);
          return;
        }
        if (mode === 'token-error') return json(res, 400, { error: 'invalid_grant', error_description: '<b>x</b>' });
        if (mode === 'token-500') return json(res, 500, { error: 'server_error' });
        if (mode === 'not-json') {
          res.writeHead(200, { 'content-type': 'text/html' });
          return res.end('<html>maintenance</html>');
        }
        idToken(nonces.get(code))
          .then((token) =>
            json(res, 200, { access_token: 'rogue-access', token_type: 'Bearer', expires_in: 3600, id_token: token }),
          )
          .catch((error: unknown) => json(res, 500, { error: String(error) }));
      });
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  return rogue;
}

/**
 * Follows the browser's path from our authorization URL through the provider (cookies kept, like a browser)
 * until the provider redirects to a URL starting with `callbackPrefix`; returns that URL.
 * @throws when the provider stops elsewhere (an error page, a refused request).
 */
export async function followAuthorization(
  authorizationUrl: string,
  callbackPrefix: string,
): Promise<{ callbackUrl: URL } | { stoppedAt: URL; status: number; body: string }> {
  const jar = new Map<string, string>();
  let url = new URL(authorizationUrl);
  for (let hop = 0; hop < 20; hop++) {
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const index = pair?.indexOf('=') ?? -1;
      if (pair && index > 0) jar.set(pair.slice(0, index).trim(), pair.slice(index + 1).trim());
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (next.href.startsWith(callbackPrefix)) return { callbackUrl: next };
      url = next;
      continue;
    }
    return { stoppedAt: url, status: response.status, body: await response.text() };
  }
  throw new Error('too many redirects');
}

/** Where our test app says it lives (nothing listens there: callbacks are fed to `app.inject`). */
export const OAUTH_TEST_PUBLIC_URL = 'http://127.0.0.1:39999';

/** Our exact redirect URI for `provider` under {@link OAUTH_TEST_PUBLIC_URL}. */
export function testRedirectUri(provider: OAuthProviderId, publicUrl = OAUTH_TEST_PUBLIC_URL): string {
  return `${publicUrl}/api/v1/oauth/${provider}/callback`;
}

/** Starts the three stand-ins with our redirect URIs registered (plus `extraRedirectUris` for attack tests). */
export async function startAllStandIns(extraRedirectUris: string[] = []) {
  const start = (provider: OAuthProviderId) =>
    startProviderStandIn(provider, { redirectUris: [testRedirectUri(provider), ...extraRedirectUris] });
  const [google, github, discord] = await Promise.all([start('google'), start('github'), start('discord')]);
  return {
    google,
    github,
    discord,
    env: { PUBLIC_URL: OAUTH_TEST_PUBLIC_URL, ...google.env, ...github.env, ...discord.env },
    byId: { google, github, discord } as Record<OAuthProviderId, ProviderStandIn>,
    async close() {
      await Promise.all([google.close(), github.close(), discord.close()]);
    },
  };
}

/** What a browser sends when the provider redirects it to our callback (it asks for HTML). */
export const BROWSER_HEADERS = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

/** The path and query of a callback URL, for `app.inject`. */
export function injectPath(url: URL): string {
  return `${url.pathname}${url.search}`;
}

/**
 * Links `provider` for the person holding `accessToken` the whole way: POST …/link, the provider (as
 * `standIn.loginAs` says), and the callback delivered to `app`. Returns the callback's response.
 */
export async function linkThroughBrowser(app: App, provider: OAuthProviderId, accessToken: string) {
  const start = await app.inject({
    method: 'POST',
    url: `/api/v1/oauth/${provider}/link`,
    headers: { authorization: `Bearer ${accessToken}` },
  });
  if (start.statusCode !== 200) throw new Error(`link start failed: ${start.statusCode} ${start.body}`);
  const { authorizationUrl } = start.json() as { authorizationUrl: string };
  const browser = await followAuthorization(authorizationUrl, `${OAUTH_TEST_PUBLIC_URL}/api/v1/oauth/`);
  if (!('callbackUrl' in browser)) throw new Error(`provider stopped: ${browser.status} ${browser.body.slice(0, 200)}`);
  return app.inject({ method: 'GET', url: injectPath(browser.callbackUrl), headers: BROWSER_HEADERS });
}
