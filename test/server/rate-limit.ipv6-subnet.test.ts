/**
 * Threat: an IPv6 client rotating through the addresses of its /64 (2^64 of them) to get a fresh budget per
 * request, or alternating between its IPv4 address and the IPv4-mapped IPv6 form.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

let t: TestApp;
const hit = (remoteAddress: string) => t.app.inject({ method: 'GET', url: '/healthz', remoteAddress });

beforeAll(async () => {
  t = await buildTestApp({ env: { RATE_LIMITS: 'global=3/60' } });
});
afterAll(async () => {
  await t?.close();
});

describe('address grouping', () => {
  it('counts every address of one IPv6 /64 together', async () => {
    expect((await hit('2001:db8:1:2::1')).statusCode).toBe(200);
    expect((await hit('2001:db8:1:2::2')).statusCode).toBe(200);
    expect((await hit('2001:db8:1:2:ffff:ffff:ffff:ffff')).statusCode).toBe(200);
    expect((await hit('2001:db8:1:2:1234::9')).statusCode).toBe(429);
    // The neighbouring /64 is another client.
    expect((await hit('2001:db8:1:3::1')).statusCode).toBe(200);
  });

  it('counts an IPv4-mapped IPv6 address as the IPv4 address', async () => {
    expect((await hit('192.0.2.7')).statusCode).toBe(200);
    expect((await hit('::ffff:192.0.2.7')).statusCode).toBe(200);
    expect((await hit('192.0.2.7')).statusCode).toBe(200);
    expect((await hit('::ffff:192.0.2.7')).statusCode).toBe(429);
  });
});
