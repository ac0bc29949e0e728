/**
 * IP truncation for the audit trail: a client's network is kept (enough to see that failures come from one
 * place), its address never is (data minimisation, GDPR Art. 5(1)(c)).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Bits kept of an IPv4 address: the /24 network, as common analytics anonymisation does. */
export const IPV4_PREFIX_BITS = 24;
/** Bits kept of an IPv6 address: the /48 site prefix (RFC 6177), which holds no host or subnet part. */
export const IPV6_PREFIX_BITS = 48;

function ipv4Octets(address: string): number[] {
  return address.split('.').map(Number);
}

/** The eight 16-bit groups of an address `isIPv6` accepted (a dotted IPv4 tail counts as two groups). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = ipv4Octets(text.slice(lastColon + 1));
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const [head = '', rest] = text.split('::');
  const left = parse(head);
  if (rest === undefined) return [...left, ...tail];
  const right = parse(rest);
  const fill = Math.max(0, 8 - left.length - right.length - tail.length);
  return [...left, ...new Array<number>(fill).fill(0), ...right, ...tail];
}

/** RFC 5952 text form: lower-case hex, no leading zeros, the longest run (≥ 2) of zero groups as '::'. */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let start = 0; start < groups.length; ) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (end < groups.length && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestLength < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * The network an address belongs to: IPv4 → `a.b.c.0/24`, IPv6 → its /48 in RFC 5952 form. IPv4-mapped IPv6
 * addresses (`::ffff:a.b.c.d`, as dual-stack sockets report IPv4 clients) are treated as the IPv4 address, and
 * a zone index (`%eth0`) is dropped.
 * @returns the prefix, or null when `address` is not an IP address.
 * @example truncateIp('203.0.113.77') // '203.0.113.0/24'
 * @example truncateIp('2001:db8:85a3:8d3:1319:8a2e:370:7348') // '2001:db8:85a3::/48'
 */
export function truncateIp(address: string | null | undefined): string | null {
  if (!address) return null;
  const bare = address.trim().replace(/%.*$/, '');
  if (isIPv4(bare)) {
    const [a, b, c] = ipv4Octets(bare);
    return `${a}.${b}.${c}.0/${IPV4_PREFIX_BITS}`;
  }
  if (!isIPv6(bare)) return null;
  const groups = ipv6Groups(bare.toLowerCase());
  if (groups.length !== 8 || groups.some((group) => !Number.isInteger(group) || group < 0 || group > 0xffff)) {
    return null;
  }
  // ::ffff:0:0/96 is IPv4 seen through an IPv6 socket: truncate the IPv4 address, not the mapping prefix.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return `${high >> 8}.${high & 0xff}.${low >> 8}.0/${IPV4_PREFIX_BITS}`;
  }
  const kept = IPV6_PREFIX_BITS / 16;
  return `${formatIpv6([...groups.slice(0, kept), ...new Array<number>(8 - kept).fill(0)])}/${IPV6_PREFIX_BITS}`;
}
