/**
 * Threat: malformed, oversized or hostile bodies (prototype pollution through `__proto__` or
 * `constructor.prototype`) reaching handlers, or crashing the API into a 500 that hides the cause. Every such
 * request is refused with a 4xx, a stable code and, for schema failures, the field that failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonBody } from '#server/plugins/json-body.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signInAs } from '#test/helpers/sign-in.ts';

let t: TestApp;
let admin: SignedIn;
beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
  admin = await signInAs(t, 'admin');
  // Admin routes need a recent second factor, checked before validation: give the session one.
  await t.services.sessions.markSecondFactor(admin.sessionId, Math.floor(Date.now() / 1000));
});
afterAll(async () => {
  await t.close();
});

const json = { 'content-type': 'application/json' };
const refresh = (payload: string, headers: Record<string, string> = json) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers, payload });

describe('prototype pollution', () => {
  it.each([
    ['__proto__', '{"refreshToken":"abc","__proto__":{"isAdmin":true}}'],
    ['nested __proto__', '{"refreshToken":"abc","a":{"b":{"__proto__":{"x":1}}}}'],
    ['constructor.prototype', '{"refreshToken":"abc","constructor":{"prototype":{"isAdmin":true}}}'],
    ['escaped __proto__', '{"refreshToken":"abc","\\u005f_proto__":{"x":1}}'],
  ])('refuses %s with 400 JSON_PROTOTYPE_POLLUTION', async (_name, payload) => {
    const response = await refresh(payload);
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('JSON_PROTOTYPE_POLLUTION');
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('tells malformed JSON apart from pollution', () => {
    expect(() => parseJsonBody('{"a":')).toThrow(expect.objectContaining({ code: 'FST_ERR_CTP_INVALID_JSON_BODY' }));
    expect(() => parseJsonBody('')).toThrow(expect.objectContaining({ code: 'FST_ERR_CTP_EMPTY_JSON_BODY' }));
    expect(parseJsonBody('{"constructor":{"name":"fine"}}')).toEqual({ constructor: { name: 'fine' } });
  });
});

describe('bodies', () => {
  it('refuses malformed and empty JSON with 400 INVALID_JSON', async () => {
    expect((await refresh('{"refreshToken":')).json().error.code).toBe('INVALID_JSON');
    const empty = await refresh('');
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('INVALID_JSON');
  });

  it('refuses another content type with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const response = await refresh('refreshToken=abc', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(response.statusCode).toBe(415);
    expect(response.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('limits auth bodies to 8 KB and other bodies to 64 KB (413 PAYLOAD_TOO_LARGE)', async () => {
    const auth = await refresh(JSON.stringify({ refreshToken: 'x'.repeat(9 * 1024) }));
    expect(auth.statusCode).toBe(413);
    expect(auth.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const create = (size: number) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/api-keys',
        headers: { ...json, ...bearer(admin.accessToken) },
        payload: JSON.stringify({ name: 'x'.repeat(size) }),
      });
    // 20 KB is under the default limit: refused by the schema (name too long), not by size.
    expect((await create(20 * 1024)).json().error.code).toBe('VALIDATION_FAILED');
    const large = await create(65 * 1024);
    expect(large.statusCode).toBe(413);
    expect(large.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('survives deeply nested JSON with a 4xx', async () => {
    const deep = `{"refreshToken":"abc","a":${'['.repeat(3000)}${']'.repeat(3000)}}`;
    const response = await refresh(deep);
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
  });
});

describe('schema failures answer 400 VALIDATION_FAILED naming the field', () => {
  const failure = (response: { statusCode: number; json(): unknown }) => {
    expect(response.statusCode).toBe(400);
    const { error } = response.json() as { error: { code: string; details: { path: string }[] } };
    expect(error.code).toBe('VALIDATION_FAILED');
    return error.details.map((detail) => detail.path);
  };

  it('a missing field', async () => {
    expect(failure(await refresh('{}'))).toEqual(['body/refreshToken']);
  });

  it('a string over its maxLength', async () => {
    expect(failure(await refresh(JSON.stringify({ refreshToken: 'x'.repeat(201) })))).toEqual(['body/refreshToken']);
  });

  it('an unknown property: refused, not silently dropped', async () => {
    expect(failure(await refresh(JSON.stringify({ refreshToken: 'x'.repeat(40), isAdmin: true })))).toEqual([
      'body/isAdmin',
    ]);
  });

  it('a number where a string belongs: JSON bodies are not coerced', async () => {
    expect(failure(await refresh('{"refreshToken":123456789012345678901234567890}'))).toEqual(['body/refreshToken']);
  });

  it('an object where a string belongs, and an array where an object belongs', async () => {
    expect(failure(await refresh('{"refreshToken":{"a":1}}'))[0]).toBe('body/refreshToken');
    expect(failure(await refresh('[1,2]'))[0]).toMatch(/^body/);
  });

  it('a path parameter that is not a uuid', async () => {
    const response = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/admin/users/not-a-uuid/role',
      headers: bearer(admin.accessToken),
      payload: { role: 'user' },
    });
    expect(failure(response)).toEqual(['params/id']);
  });

  it('an unknown enum value', async () => {
    const response = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/admin/users/${admin.userId}/role`,
      headers: bearer(admin.accessToken),
      payload: { role: 'root' },
    });
    expect(failure(response)[0]).toMatch(/^body\/role/);
  });
});
