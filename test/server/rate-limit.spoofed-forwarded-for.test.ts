/**
 * Threat: a client dodging its per-address limit by sending a different X-Forwarded-For on each request.
 * The header is believed only when TRUST_PROXY names the proxy the request came through.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

const apps: TestApp[] = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});

async function build(env: Record<string, string>): Promise<TestApp> {
  const t = await buildTestApp({ env: { RATE_LIMITS: 'global=2/60', ...env } });
  apps.push(t);
  return t;
}

const hit = (t: TestApp, remoteAddress: string, forwardedFor: string) =>
  t.app.inject({ method: 'GET', url: '/healthz', remoteAddress, headers: { 'x-forwarded-for': forwardedFor } });

describe('X-Forwarded-For', () => {
  it('is ignored by default: a spoofed header does not give a new budget', async () => {
    const t = await build({});
    expect((await hit(t, '198.51.100.20', '10.0.0.1')).statusCode).toBe(200);
    expect((await hit(t, '198.51.100.20', '10.0.0.2')).statusCode).toBe(200);
    expect((await hit(t, '198.51.100.20', '10.0.0.3')).statusCode).toBe(429);
  });

  it('is honoured per forwarded client when TRUST_PROXY names the proxy, and only from that proxy', async () => {
    const t = await build({ TRUST_PROXY: '127.0.0.1' });
    for (let i = 0; i < 2; i++) expect((await hit(t, '127.0.0.1', '203.0.113.1')).statusCode).toBe(200);
    expect((await hit(t, '127.0.0.1', '203.0.113.1')).statusCode).toBe(429);
    // Another client behind the same proxy has its own budget.
    expect((await hit(t, '127.0.0.1', '203.0.113.2')).statusCode).toBe(200);
    // A client connecting directly (not through the trusted proxy) cannot claim another address.
    expect((await hit(t, '198.51.100.21', '203.0.113.3')).statusCode).toBe(200);
    expect((await hit(t, '198.51.100.21', '203.0.113.4')).statusCode).toBe(200);
    expect((await hit(t, '198.51.100.21', '203.0.113.5')).statusCode).toBe(429);
  });
});
