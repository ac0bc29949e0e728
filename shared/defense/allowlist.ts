/**
 * The allow-list (`DEFENSE_ALLOWLIST`): addresses, networks and Telegram accounts that scenarios never issue
 * decisions against (monitoring probes, the office NAT, the admins' own accounts).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { DecisionTarget } from './targets.ts';

export interface Allowlist {
  /** True when no scenario may issue a decision against this target. */
  allows(target: DecisionTarget): boolean;
}

export type ParseAllowlistResult = { ok: true; allowlist: Allowlist } | { ok: false; reason: string };

/**
 * Parses comma-separated entries: an IP address, a CIDR network (`10.0.0.0/8`, `2001:db8::/32`), `tg:<id>`
 * (a Telegram account) or `user:<uuid>`.
 * @example parseAllowlist('203.0.113.0/24,tg:12345')
 */
export function parseAllowlist(value: string | undefined): ParseAllowlistResult {
  const networks = new BlockList();
  const ids = new Set<string>();
  for (const raw of (value ?? '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const id = /^(tg|user):([0-9a-f-]{1,36})$/.exec(entry);
    if (id) {
      ids.add(`${id[1] === 'tg' ? 'telegram_user' : 'user'}:${id[2]}`);
      continue;
    }
    const [address = '', bits] = entry.split('/');
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
    const maxBits = family === 'ipv4' ? 32 : 128;
    const prefix = bits === undefined ? maxBits : Number(bits);
    if (
      !family ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > maxBits ||
      (bits !== undefined && !/^\d+$/.test(bits))
    ) {
      return { ok: false, reason: `"${raw.trim()}" is not an IP address, a CIDR network, tg:<id> or user:<uuid>` };
    }
    networks.addSubnet(address, prefix, family);
  }
  return {
    ok: true,
    allowlist: {
      allows(target) {
        if (target.scope === 'ip') {
          const address = target.value.trim();
          if (isIPv4(address)) return networks.check(address, 'ipv4');
          if (isIPv6(address)) return networks.check(address, 'ipv6');
          return false;
        }
        return ids.has(`${target.scope}:${target.value.trim().toLowerCase()}`);
      },
    },
  };
}
