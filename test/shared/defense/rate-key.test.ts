/**
 * Threat: one client dodging a per-address limit by rotating addresses inside the /64 it was given, or by
 * switching between its IPv4 address and the IPv4-mapped IPv6 form of it.
 */
import { describe, expect, it } from 'vitest';
import { rateKeyForIp } from '#shared/defense/rate-key.ts';

describe('rateKeyForIp', () => {
  it('keeps an IPv4 address whole', () => {
    expect(rateKeyForIp('203.0.113.7')).toBe('ip4:203.0.113.7');
    expect(rateKeyForIp('203.0.113.8')).not.toBe(rateKeyForIp('203.0.113.7'));
  });

  it('groups IPv6 addresses by /64', () => {
    const key = rateKeyForIp('2001:db8:1:2::1');
    expect(key).toBe('ip6:2001:db8:1:2::/64');
    expect(rateKeyForIp('2001:db8:1:2:ffff:ffff:ffff:fffe')).toBe(key);
    expect(rateKeyForIp('2001:0DB8:0001:0002:0:0:0:9')).toBe(key); // case and leading zeros do not matter
    expect(rateKeyForIp('2001:db8:1:3::1')).not.toBe(key);
    expect(rateKeyForIp('::1')).toBe('ip6:0:0:0:0::/64');
    expect(rateKeyForIp('fe80::1%eth0')).toBe('ip6:fe80:0:0:0::/64');
  });

  it('counts an IPv4-mapped IPv6 address as the IPv4 address', () => {
    expect(rateKeyForIp('::ffff:203.0.113.7')).toBe('ip4:203.0.113.7');
    expect(rateKeyForIp('::FFFF:cb00:7107')).toBe('ip4:203.0.113.7');
    expect(rateKeyForIp('0:0:0:0:0:ffff:203.0.113.7')).toBe('ip4:203.0.113.7');
  });

  it('puts anything that is not an address into one shared bucket', () => {
    expect(rateKeyForIp('')).toBe('unknown');
    expect(rateKeyForIp(undefined)).toBe('unknown');
    expect(rateKeyForIp('not-an-ip')).toBe('unknown');
    expect(rateKeyForIp('1.2.3.4.5')).toBe('unknown');
  });
});
