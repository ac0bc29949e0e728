/**
 * Threat: the app sets strict headers but a proxy in front strips or rewrites them (or adds a version
 * banner), so browsers never see the protection. The self-check reads what really comes back over HTTP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHttpHeaders, type HeaderExpectation } from '#shared/scanner/index.ts';

let server: Server;
let baseUrl: string;
beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/good') {
      response.setHeader('content-security-policy', "default-src 'none'");
      response.setHeader('x-content-type-options', 'nosniff');
    } else if (request.url === '/proxied') {
      // A proxy that rewrote the CSP, dropped nosniff and announced itself.
      response.setHeader('content-security-policy', 'default-src *');
      response.setHeader('x-powered-by', 'Express');
      response.setHeader('server', 'nginx/1.18.0');
    }
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const policy = { 'content-security-policy': "default-src 'none'", 'x-content-type-options': 'nosniff' };

describe('HTTP header self-check', () => {
  it('finds nothing when the response carries the policy', async () => {
    expect(await checkHttpHeaders(baseUrl, [{ path: '/good', headers: policy }])).toEqual([]);
  });

  it('reports missing, rewritten and revealing headers', async () => {
    const pages: HeaderExpectation[] = [{ path: '/proxied', headers: policy }];
    const found = await checkHttpHeaders(baseUrl, pages);
    expect(found.map((f) => [f.rule, f.severity, f.title]).sort()).toEqual([
      ['http.header_leak', 'low', '/proxied reveals server'],
      ['http.header_leak', 'low', '/proxied reveals x-powered-by'],
      ['http.header_mismatch', 'medium', '/proxied sends a different content-security-policy'],
      ['http.header_missing', 'low', '/proxied lacks x-content-type-options'],
    ]);
    expect(found.find((f) => f.rule === 'http.header_mismatch')?.detail).toContain('default-src *');
    // Stable identity: the same problem on the next scan has the same fingerprint.
    const again = await checkHttpHeaders(baseUrl, pages);
    expect(again.map((f) => f.fingerprint).sort()).toEqual(found.map((f) => f.fingerprint).sort());
  });

  it('turns an unreachable deployment into one low finding per page', async () => {
    const found = await checkHttpHeaders('http://127.0.0.1:1', [{ path: '/healthz', headers: policy }], 1_000);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ rule: 'http.unreachable', severity: 'low', kind: 'http' });
  });
});
