/**
 * The API's edges: health and readiness, OpenAPI, JSON errors with codes (never a stack trace), security
 * headers, and refusal of oversized or malformed bodies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase } from '#test/helpers/test-db.ts';

let t: TestApp;
beforeAll(async () => {
  const database = await createTestDatabase();
  const { bot } = createTestBot({ db: database.db });
  t = await buildTestApp({
    database,
    bot,
    env: { BOT_MODE: 'webhook', BODY_LIMIT_BYTES: '4096' },
  });
});
afterAll(async () => {
  await t.close();
  await t.database.close();
});

describe('health', () => {
  it('GET /healthz answers 200', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz checks the database, the key store, migrations and Redis', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: 'ready',
      checks: { database: 'ok', keystore: 'ok', migrations: 'ok', redis: 'ok' },
    });
    expect(response.headers['cache-control']).toBe('no-store');
  });
});

describe('OpenAPI', () => {
  it('documents every API route, generated from the route schemas', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/telegram/webhook']));
    expect(doc.paths['/readyz']?.get).toMatchObject({ responses: { '200': {}, '503': {} } });
    // Static files and the SPA fallback are not API routes.
    expect(Object.keys(doc.paths).some((path) => path.startsWith('/app'))).toBe(false);
  });
});

describe('errors', () => {
  it('answers unknown routes with a JSON 404 and a code', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/nope?token=abc' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No route for GET /api/v1/nope.' } });
    expect(response.body).not.toContain('token=abc');
  });

  it('refuses a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/telegram/webhook',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret },
      payload: JSON.stringify({ update_id: 1, pad: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses malformed JSON with 400 INVALID_JSON and no stack trace', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/telegram/webhook',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret },
      payload: '{"update_id": 1,,,',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('INVALID_JSON');
    expect(response.body).not.toMatch(/at .*\.(ts|js):\d+/);
  });

  it('refuses a body that fails the schema with 400 VALIDATION_FAILED naming the field', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/telegram/webhook',
      headers: { 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret },
      payload: { update_id: 'one' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(JSON.stringify(response.json().error.details)).toContain('update_id');
  });

  it('refuses unsupported media types with 415', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/telegram/webhook',
      headers: { 'content-type': 'application/xml', 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret },
      payload: '<update/>',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('security headers', () => {
  it('sets nosniff, no-referrer, a request id and a deny-all CSP on API responses', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('ignores a client-supplied request id (log injection)', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'request-id': 'evil\nforged', 'x-request-id': 'evil\nforged' },
    });
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
