/**
 * Threat: credentials and personal data travel in clear, or the HTTP→HTTPS redirect becomes an open
 * redirect. With TLS_CERT/TLS_KEY the API itself serves HTTPS; HTTP_REDIRECT_PORT adds a plain-HTTP listener
 * that only redirects to the same path on our own host (PUBLIC_URL's, or a well-formed Host header).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRedirect, startHttpsRedirect } from '#server/https-redirect.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsp-tls-'));
const certPath = join(dir, 'cert.pem');
const keyPath = join(dir, 'key.pem');

let t: TestApp;
let httpsPort = 0;
beforeAll(async () => {
  // A throwaway self-signed certificate for localhost (EC P-256: fast to generate).
  const subject = '-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1';
  const options = `req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 ${subject}`;
  execFileSync('openssl', [...options.split(' '), '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  t = await buildTestApp({ env: { TLS_CERT: certPath, TLS_KEY: keyPath } });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  httpsPort = (t.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await t?.close();
});

function get(
  requestFn: typeof httpRequest | typeof httpsRequest,
  options: Record<string, unknown>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = requestFn({ host: '127.0.0.1', ...options }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('direct TLS', () => {
  it('serves the API over HTTPS with the configured certificate', async () => {
    const response = await get(httpsRequest, {
      port: httpsPort,
      path: '/healthz',
      servername: 'localhost',
      ca: readFileSync(certPath),
    });
    expect(response.status).toBe(200);
    expect(response.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
  });

  it('does not answer plain HTTP on the HTTPS port', async () => {
    await expect(get(httpRequest, { port: httpsPort, path: '/healthz' })).rejects.toThrow();
  });
});

describe('HTTP→HTTPS redirect', () => {
  let open: RunningRedirect;
  let pinned: RunningRedirect;
  beforeAll(async () => {
    open = await startHttpsRedirect({ host: '127.0.0.1', port: 0, httpsPort: 8443, publicUrl: undefined });
    pinned = await startHttpsRedirect({
      host: '127.0.0.1',
      port: 0,
      httpsPort: 8443,
      publicUrl: 'https://bot.example.org',
    });
  });
  afterAll(async () => {
    await open?.close();
    await pinned?.close();
  });
  const portOf = (redirect: RunningRedirect) => (redirect.server.address() as AddressInfo).port;

  it('redirects to the same host, path and query over HTTPS', async () => {
    const response = await get(httpRequest, {
      port: portOf(open),
      path: '/app/settings?tab=1&x=%2F',
      headers: { host: 'example.com:8080' },
    });
    expect(response.status).toBe(301);
    expect(response.headers.location).toBe('https://example.com:8443/app/settings?tab=1&x=%2F');
  });

  it("uses PUBLIC_URL's host, whatever the Host header says", async () => {
    const response = await get(httpRequest, { port: portOf(pinned), path: '/x?y=1', headers: { host: 'evil.com' } });
    expect(response.status).toBe(301);
    expect(response.headers.location).toBe('https://bot.example.org/x?y=1');
  });

  it('keeps the method of a non-GET request (308)', async () => {
    const response = await get(httpRequest, { port: portOf(pinned), path: '/api/v1/auth/telegram', method: 'POST' });
    expect(response.status).toBe(308);
    expect(response.headers.location).toBe('https://bot.example.org/api/v1/auth/telegram');
  });

  it('refuses a malformed Host header instead of redirecting to it', async () => {
    for (const host of ['evil.com/@x', 'evil.com\\x', 'a b', 'evil.com:80@x', 'user@evil.com', '-evil.com']) {
      const response = await get(httpRequest, { port: portOf(open), path: '/', headers: { host } });
      expect(response.status, host).toBe(400);
      expect(response.headers.location, host).toBeUndefined();
    }
  });

  it('never lets the path choose the host', async () => {
    for (const path of ['//evil.com/x', '/\\evil.com', '/@evil.com']) {
      const response = await get(httpRequest, { port: portOf(pinned), path });
      const location = new URL(String(response.headers.location));
      expect(location.host, path).toBe('bot.example.org');
      expect(location.protocol, path).toBe('https:');
    }
    // An absolute-form target (a proxy-style request line) goes to our root, not to the named host.
    const absolute = await get(httpRequest, {
      port: portOf(open),
      path: 'http://evil.com/x',
      headers: { host: 'ok.example' },
    });
    expect(absolute.headers.location).toBe('https://ok.example:8443/');
  });
});
