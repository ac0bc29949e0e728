/**
 * Threat: an external client's key does more than its owner allowed, outlives its revocation, is replayed
 * after a typo-squat or guess, floods the API, or is used to mint more keys; or one person reaches another's
 * keys. Through the real app: keys are accepted as Bearer or X-API-Key, refused with a specific 401 code, held
 * to their scopes (403), throttled with 429 + Retry-After (never 401), and managed only by their owner.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '#shared/api-keys/index.ts';
import { sha256Hex } from '#shared/crypto/hash.ts';
import { apiKeys, users } from '#shared/db/schema.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { signedInitData } from '#test/helpers/init-data.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
afterAll(async () => {
  await t.close();
});

let telegramIds = 810_000;

/** Signs a new person in through Telegram initData; `role` is set before the first sign-in. */
async function signIn(role: 'user' | 'readonly' | 'admin' = 'user') {
  const telegramId = ++telegramIds;
  if (role !== 'user') {
    const { user } = await upsertTelegramUser(t.database.db, { telegramId, adminTelegramIds: [] });
    await t.database.db.update(users).set({ role }).where(eq(users.id, user.id));
  }
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/telegram',
    payload: { initData: signedInitData({ user: { id: telegramId, first_name: 'Kay', language_code: 'en' } }) },
  });
  expect(response.statusCode).toBe(200);
  const body = response.json() as { accessToken: string; user: { id: string } };
  return { userId: body.user.id, headers: { authorization: `Bearer ${body.accessToken}` } };
}

type Session = Awaited<ReturnType<typeof signIn>>;

async function createKey(session: Session, payload: Record<string, unknown> = { name: 'CI' }) {
  const response = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: session.headers, payload });
  expect(response.statusCode, response.body).toBe(201);
  return response.json() as { key: string; apiKey: { id: string; scopes: string[] } };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('API keys over the API', () => {
  it('creates a key shown once (no-store), lists it without the key or its hash, and accepts it both ways', async () => {
    const session = await signIn();
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: session.headers,
      payload: { name: 'Deploy', scopes: ['profile:read', 'api-keys:read'], expiresInDays: 30 },
    });
    expect(response.statusCode).toBe(201);
    expect(response.headers['cache-control']).toBe('no-store');
    const { key, apiKey } = response.json();
    expect(key).toMatch(/^tsp_[0-9A-Za-z]{36}$/);
    expect(apiKey).toMatchObject({
      name: 'Deploy',
      scopes: ['profile:read', 'api-keys:read'],
      effectiveScopes: ['profile:read', 'api-keys:read'],
      rateLimitPerMinute: 600,
      status: 'active',
      lastUsedAt: null,
    });

    const listed = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: session.headers });
    expect(listed.statusCode).toBe(200);
    expect(listed.json().apiKeys).toHaveLength(1);
    expect(listed.body).not.toContain(key);
    expect(listed.body).not.toContain(key.slice(8, -4));
    expect(listed.body).not.toContain(sha256Hex(key));

    for (const headers of [bearer(key), { 'x-api-key': key }]) {
      const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers });
      expect(me.statusCode, me.body).toBe(200);
      expect(me.json()).toMatchObject({ permissions: ['profile:read', 'api-keys:read'], via: 'api_key' });
    }
    const [row] = await t.database.db.select().from(apiKeys).where(eq(apiKeys.id, apiKey.id));
    expect(row?.lastUsedIp).toBe('127.0.0.0/24');
  });

  it('holds a key to its scopes: a profile:read key gets 403 on write and on other routes', async () => {
    const session = await signIn();
    const { key, apiKey } = await createKey(session, { name: 'Reader', scopes: ['profile:read'] });
    const attempts = [
      { method: 'DELETE' as const, url: `/api/v1/api-keys/${apiKey.id}` },
      { method: 'POST' as const, url: '/api/v1/api-keys', payload: { name: 'More' } },
      { method: 'GET' as const, url: '/api/v1/api-keys' },
    ];
    for (const attempt of attempts) {
      const response = await t.app.inject({ ...attempt, headers: bearer(key) });
      expect(response.statusCode, attempt.url).toBe(403);
      expect(response.json().error.code).toBe('PERMISSION_DENIED');
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(key) })).statusCode).toBe(200);
  });

  it('refuses scopes the role lacks (403 with a code) and unknown scopes (400)', async () => {
    const reader = await signIn('readonly');
    const denied = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: reader.headers,
      payload: { name: 'Writer', scopes: ['profile:write'] },
    });
    // A read-only person lacks api-keys:write altogether.
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('PERMISSION_DENIED');

    const user = await signIn('user');
    const adminScope = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: user.headers,
      payload: { name: 'Admin', scopes: ['admin:users:write'] },
    });
    expect(adminScope.statusCode).toBe(403);
    expect(adminScope.json().error).toMatchObject({
      code: 'API_KEY_SCOPE_NOT_ALLOWED',
      details: { scope: 'admin:users:write' },
    });
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: user.headers,
      payload: { name: 'Odd', scopes: ['root'] },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.code).toBe('VALIDATION_FAILED');
    const tooLong = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: user.headers,
      payload: { name: 'Long', expiresInDays: 366 },
    });
    expect(tooLong.statusCode).toBe(400);
  });

  it('lets no API key create or rotate keys, but lets it revoke its owner’s keys', async () => {
    const session = await signIn();
    const { key, apiKey } = await createKey(session, {
      name: 'Automation',
      scopes: ['api-keys:read', 'api-keys:write'],
    });
    const create = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: bearer(key),
      payload: { name: 'Child' },
    });
    expect(create.statusCode).toBe(403);
    expect(create.json().error.code).toBe('API_KEY_CANNOT_MANAGE_KEYS');
    const rotate = await t.app.inject({
      method: 'POST',
      url: `/api/v1/api-keys/${apiKey.id}/rotate`,
      headers: bearer(key),
    });
    expect(rotate.statusCode).toBe(403);
    expect(rotate.json().error.code).toBe('API_KEY_CANNOT_MANAGE_KEYS');

    const revoke = await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${apiKey.id}`, headers: bearer(key) });
    expect(revoke.statusCode).toBe(204);
    const after = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(key) });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('API_KEY_REVOKED');
  });

  it('answers 404 for someone else’s key, which keeps working', async () => {
    const owner = await signIn();
    const intruder = await signIn();
    const { key, apiKey } = await createKey(owner);
    for (const attempt of [
      { method: 'DELETE' as const, url: `/api/v1/api-keys/${apiKey.id}` },
      { method: 'POST' as const, url: `/api/v1/api-keys/${apiKey.id}/rotate` },
      { method: 'DELETE' as const, url: '/api/v1/api-keys/00000000-0000-4000-8000-000000000000' },
    ]) {
      const response = await t.app.inject({ ...attempt, headers: intruder.headers });
      expect(response.statusCode, attempt.url).toBe(404);
      expect(response.json().error.code).toBe('API_KEY_NOT_FOUND');
    }
    const theirs = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: intruder.headers });
    expect(theirs.json().apiKeys).toEqual([]);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(key) })).statusCode).toBe(200);
  });

  it('rotates: the response carries the new key once, and both keys work during the grace period', async () => {
    const session = await signIn();
    const { key, apiKey } = await createKey(session, { name: 'Rotating', scopes: ['profile:read'] });
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/api-keys/${apiKey.id}/rotate`,
      headers: session.headers,
    });
    expect(response.statusCode).toBe(201);
    expect(response.headers['cache-control']).toBe('no-store');
    const rotated = response.json();
    expect(rotated.apiKey).toMatchObject({ name: 'Rotating', scopes: ['profile:read'], status: 'active' });
    expect(rotated.previous).toMatchObject({ id: apiKey.id, status: 'rotating', replacedById: rotated.apiKey.id });
    for (const secret of [key, rotated.key]) {
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(secret) })).statusCode).toBe(200);
    }
    const again = await t.app.inject({
      method: 'POST',
      url: `/api/v1/api-keys/${apiKey.id}/rotate`,
      headers: session.headers,
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('API_KEY_NOT_ACTIVE');
  });

  it('refuses a bad checksum, a revoked key and an unknown key with specific 401 codes', async () => {
    const session = await signIn();
    const { key, apiKey } = await createKey(session, { name: 'Gone', scopes: ['profile:read'] });
    const typo = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    const checksum = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(typo) });
    expect(checksum.statusCode).toBe(401);
    expect(checksum.json().error.code).toBe('API_KEY_CHECKSUM_INVALID');

    const unknown = await t.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { 'x-api-key': generateApiKey() },
    });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().error.code).toBe('API_KEY_INVALID');

    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/api-keys/${apiKey.id}`,
      headers: session.headers,
    });
    expect(revoke.statusCode).toBe(204);
    const revoked = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(key) });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.code).toBe('API_KEY_REVOKED');
  });

  it('throttles a key over its own limit with 429 and Retry-After, never 401', async () => {
    const session = await signIn();
    const limit = 2;
    const { key } = await createKey(session, { name: 'Tight', scopes: ['profile:read'], rateLimitPerMinute: limit });
    // 2·limit + 1 requests see a 429 even if one minute boundary passes while they run.
    const statuses: number[] = [];
    for (let request = 0; request < 2 * limit + 1; request++) {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(key) });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) {
        const retryAfter = Number(response.headers['retry-after']);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect(response.json().error.code).toBe('RATE_LIMITED');
      }
    }
    expect(statuses).toContain(429);
    expect(statuses).not.toContain(401);
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
  });

  it('documents every route with its schemas in the OpenAPI document', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const paths = document.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    expect(Object.keys(paths['/api/v1/api-keys'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/api/v1/api-keys/{id}/rotate'] ?? {})).toEqual(['post']);
    expect(Object.keys(paths['/api/v1/api-keys/{id}'] ?? {})).toEqual(['delete']);
    expect(Object.keys(paths['/api/v1/api-keys']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['201', '400', '401', '403', '409', '429']),
    );
  });
});
