/**
 * Threat: forged or misused access tokens (RFC 8725 attacks). `alg: none`, HS256 signed with our public key
 * (key confusion), an unknown `kid`, another audience or issuer, expired or not-yet-valid tokens, altered
 * claims, and tokens of a revoked session must all be refused with 401 and a specific code.
 */
import { createHmac, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenSigner } from '#shared/tokens/jwt.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { signedInitData } from '#test/helpers/init-data.ts';

let t: TestApp;
let accessToken: string;
let refreshToken: string;
let kid: string;
let privateKey: KeyObject;
let userId: string;
let sessionId: string;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const me = (token: string) =>
  t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
const codeOf = async (token: string) => {
  const response = await me(token);
  expect(response.statusCode).toBe(401);
  expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
  return response.json().error.code as string;
};
const claims = () => {
  const now = Math.floor(Date.now() / 1000);
  return {
    sub: userId,
    sid: sessionId,
    jti: 'j1',
    role: 'admin',
    permissions: ['profile:read', 'admin:roles:write'],
    amr: ['tg'],
    auth_time: now,
    iss: 'tsp',
    aud: 'tsp-api',
    iat: now,
    exp: now + 600,
  };
};
const signOurs = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid, ...header }).sign(privateKey);

beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
  const login = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/telegram',
    payload: { initData: signedInitData({ user: { id: 31337, first_name: 'Mallory' } }) },
  });
  ({ accessToken, refreshToken } = login.json());
  userId = login.json().user.id;
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString());
  sessionId = payload.sid;
  kid = JSON.parse(Buffer.from(accessToken.split('.')[0] as string, 'base64url').toString()).kid;
  privateKey = createPrivateKey({ key: t.secrets.jwtSigningKeys[0] as Buffer, format: 'der', type: 'pkcs8' });
});
afterAll(async () => {
  await t.close();
});

describe('access tokens', () => {
  it('carry the required claims and headers, and verify', async () => {
    const [header, payload] = accessToken
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid });
    expect(Object.keys(payload).sort()).toEqual(
      ['amr', 'aud', 'auth_time', 'exp', 'iat', 'iss', 'jti', 'permissions', 'role', 'sid', 'sub'].sort(),
    );
    expect(payload.exp - payload.iat).toBe(600);
    expect(payload.amr).toEqual(['tg']);
    expect((await me(accessToken)).statusCode).toBe(200);
  });

  it('publishes the verification keys at /.well-known/jwks.json (public parts only)', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    const [key] = response.json().keys;
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid, alg: 'EdDSA', use: 'sig' });
    expect(key.d).toBeUndefined();
  });

  it('refuses alg "none"', async () => {
    const token = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims())}.`;
    expect(await codeOf(token)).toBe('TOKEN_ALGORITHM_REJECTED');
  });

  it('refuses HS256 signed with our public key (algorithm confusion)', async () => {
    const jwks = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    for (const secret of [JSON.stringify(jwks.keys[0]), Buffer.from(jwks.keys[0].x, 'base64url')]) {
      const head = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(claims())}`;
      const signature = createHmac('sha256', secret).update(head).digest('base64url');
      expect(await codeOf(`${head}.${signature}`)).toBe('TOKEN_ALGORITHM_REJECTED');
    }
  });

  it('refuses an unknown kid and a valid signature by someone else’s key', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const foreign = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'not-ours' })
      .sign(other);
    expect(await codeOf(foreign)).toBe('TOKEN_KEY_UNKNOWN');
    const impostor = await new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(other);
    expect(await codeOf(impostor)).toBe('TOKEN_SIGNATURE_INVALID');
  });

  it('refuses another audience, another issuer, or a missing/other typ', async () => {
    expect(await codeOf(await signOurs({ ...claims(), aud: 'someone-else' }))).toBe('TOKEN_CLAIMS_INVALID');
    expect(await codeOf(await signOurs({ ...claims(), iss: 'https://evil.example' }))).toBe('TOKEN_CLAIMS_INVALID');
    expect(await codeOf(await signOurs(claims(), { typ: 'JWT' }))).toBe('TOKEN_CLAIMS_INVALID');
  });

  it('refuses expired tokens beyond 30 s of skew, accepts within it, refuses not-yet-valid ones', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await codeOf(await signOurs({ ...claims(), iat: now - 700, exp: now - 60 }))).toBe('TOKEN_EXPIRED');
    expect((await me(await signOurs({ ...claims(), iat: now - 620, exp: now - 20 }))).statusCode).toBe(200);
    expect(await codeOf(await signOurs({ ...claims(), nbf: now + 120 }))).toBe('TOKEN_NOT_YET_VALID');
  });

  it('refuses a token whose claims were altered (role raised to admin)', async () => {
    const [header, payload, signature] = accessToken.split('.') as [string, string, string];
    const raised = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), role: 'admin' };
    expect(await codeOf(`${header}.${b64(raised)}.${signature}`)).toBe('TOKEN_SIGNATURE_INVALID');
  });

  it('takes role and permissions from the session, not from the token', async () => {
    // A correctly signed token claiming admin is still only what the session says (user).
    const escalated = await signOurs(claims());
    const response = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/admin/users/${userId}/role`,
      headers: { authorization: `Bearer ${escalated}` },
      payload: { role: 'admin' },
    });
    expect(response.statusCode).toBe(403);
  });

  it('refuses malformed bearer values and other schemes', async () => {
    for (const value of ['Bearer', 'Bearer a.b', 'Basic dXNlcjpwYXNz', `Bearer ${'a'.repeat(5000)}`, 'Bearer x.y.z']) {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: value } });
      expect(response.statusCode, value.slice(0, 20)).toBe(401);
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me' })).json().error.code).toBe('AUTH_REQUIRED');
  });

  it('stops working the moment its session is revoked (even though it verified before)', async () => {
    expect((await me(accessToken)).statusCode).toBe(200); // now in the verified-token cache
    const logout = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(logout.statusCode).toBe(204);
    expect(await codeOf(accessToken)).toBe('SESSION_REVOKED');
    const refresh = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
    expect(refresh.statusCode).toBe(401);
    expect(refresh.json().error.code).toBe('SESSION_REVOKED');
  });

  it('keeps verifying tokens of a rotated-out signing key while it stays in the key list', async () => {
    const oldKey = t.secrets.jwtSigningKeys[0] as Buffer;
    const newKey = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
    const before = await createTokenSigner({ signingKeys: [oldKey], issuer: 'tsp', audience: 'tsp-api' });
    const after = await createTokenSigner({ signingKeys: [newKey, oldKey], issuer: 'tsp', audience: 'tsp-api' });
    const retired = await createTokenSigner({ signingKeys: [newKey], issuer: 'tsp', audience: 'tsp-api' });
    const { token } = await before.issue({
      sub: userId,
      sid: 's',
      role: 'user',
      permissions: [],
      amr: ['tg'],
      auth_time: 1,
    });
    expect((await after.verify(token)).ok).toBe(true);
    expect(after.jwks().keys).toHaveLength(2);
    expect(await retired.verify(token)).toEqual({ ok: false, reason: 'TOKEN_KEY_UNKNOWN' });
    const { token: fresh } = await after.issue({
      sub: userId,
      sid: 's',
      role: 'user',
      permissions: [],
      amr: ['tg'],
      auth_time: 1,
    });
    expect(JSON.parse(Buffer.from(fresh.split('.')[0] as string, 'base64url').toString()).kid).not.toBe(kid);
  });
});
