/**
 * The client part of a rate-limit key: one bucket per IPv4 address and one per IPv6 /64, because a single
 * customer is usually given a whole /64 (RFC 6177) and could otherwise rotate through 2^64 addresses.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Bits of an IPv6 address that name one client: the /64 a single subscriber gets (RFC 6177, RFC 7381). */
export const IPV6_CLIENT_PREFIX_BITS = 64;

/** The eight 16-bit groups of an address `isIPv6` accepted; a dotted IPv4 tail becomes two groups. */
function ipv6Groups(address: string): number[] | null {
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    if (!isIPv4(last)) return null;
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    // Keep '::' intact when the IPv4 tail follows it directly (`::ffff:1.2.3.4` keeps its '::').
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const [head = '', rest] = text.split('::');
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const fill = rest === undefined ? 0 : 8 - left.length - right.length - tail.length;
  if (fill < 0) return null;
  const groups = [...left, ...new Array<number>(fill).fill(0), ...right, ...tail];
  if (groups.length !== 8 || groups.some((group) => !Number.isInteger(group) || group < 0 || group > 0xffff)) {
    return null;
  }
  return groups;
}

/**
 * The rate-limit bucket of a client address: an IPv4 address as is, an IPv6 address as its /64 network
 * (`2001:db8:1:2::/64`, lower-case hex, no zero-compression so equal networks give equal strings). An
 * IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, as dual-stack sockets report IPv4 clients) counts as its
 * IPv4 address, so one client cannot get two buckets by switching socket families. A zone index is dropped.
 * Anything that is not an IP address (a unix socket, an empty string) becomes `unknown`: one shared bucket,
 * never a free pass.
 * @example rateKeyForIp('2001:db8:1:2:aaaa::1') // 'ip6:2001:db8:1:2::/64'
 * @example rateKeyForIp('::ffff:203.0.113.7') // 'ip4:203.0.113.7'
 */
export function rateKeyForIp(address: string | null | undefined): string {
  const key = address ?? '';
  const known = recentKeys.get(key);
  if (known !== undefined) return known;
  const computed = computeRateKey(key);
  // A bounded memo: a client's address repeats on every request of its connections; a flood of distinct
  // addresses only ever empties it.
  if (recentKeys.size >= RECENT_KEYS_MAX) recentKeys.clear();
  recentKeys.set(key, computed);
  return computed;
}

/** Addresses seen recently and their keys (parsing an address costs more than the rest of the limiter). */
const recentKeys = new Map<string, string>();
const RECENT_KEYS_MAX = 10_000;

function computeRateKey(address: string): string {
  const bare = address.trim().replace(/%.*$/, '');
  if (isIPv4(bare)) return `ip4:${bare.split('.').map(Number).join('.')}`;
  if (!isIPv6(bare)) return 'unknown';
  const groups = ipv6Groups(bare.toLowerCase());
  if (!groups) return 'unknown';
  // ::ffff:0:0/96 is an IPv4 address seen through an IPv6 socket.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return `ip4:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  const network = groups.slice(0, IPV6_CLIENT_PREFIX_BITS / 16).map((group) => group.toString(16));
  return `ip6:${network.join(':')}::/${IPV6_CLIENT_PREFIX_BITS}`;
}
