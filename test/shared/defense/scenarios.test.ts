/**
 * Threat: a detector that can be switched off or loosened by a typo in its settings, an allow-list entry that
 * lets more through than written, or ban durations an attacker can predict and wait out in lockstep.
 */
import { describe, expect, it } from 'vitest';
import { parseAllowlist } from '#shared/defense/allowlist.ts';
import { DURATION_JITTER, escalatedSeconds } from '#shared/defense/decisions.ts';
import {
  DEFAULT_SCENARIOS,
  parseScenarioOverrides,
  SCENARIO_NAMES,
  scenariosFromConfig,
} from '#shared/defense/scenarios.ts';
import { canonicalTarget, createTargetHasher, maskTarget } from '#shared/defense/targets.ts';

describe('scenarios', () => {
  it('ships every scenario the product names, with an alert-only one', () => {
    expect(DEFAULT_SCENARIOS.map((scenario) => scenario.name)).toEqual([...SCENARIO_NAMES]);
    expect(DEFAULT_SCENARIOS.filter((scenario) => scenario.decision === null).map((s) => s.name)).toEqual([
      'failures-then-success',
    ]);
  });

  it('applies overrides and turns scenarios off', () => {
    const scenarios = scenariosFromConfig('request-flood=3/60/120,user-enumeration=off');
    const flood = scenarios.find((scenario) => scenario.name === 'request-flood');
    expect(flood?.capacity).toBe(3);
    expect(flood?.leakSeconds).toBe(60);
    expect(flood?.decision?.baseSeconds).toBe(120);
    expect(scenarios.some((scenario) => scenario.name === 'user-enumeration')).toBe(false);
  });

  it.each([
    ['no-such=1/1', /unknown scenario/],
    ['request-flood=0/1', /at least 1/],
    ['request-flood=1/1,request-flood=off', /twice/],
    ['request-flood=lots', /name=off/],
  ])('refuses %s', (value, reason) => {
    const parsed = parseScenarioOverrides(value);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  it('counts distinct API keys, not repeats of one key', () => {
    const stuffing = DEFAULT_SCENARIOS.find((scenario) => scenario.name === 'api-key-stuffing');
    const event = {
      action: 'auth.api_key',
      result: 'failure',
      ip: '203.0.113.9',
      target: { type: 'api_key_fingerprint', id: 'abc' },
    };
    expect(stuffing?.filter(event)).toBe(true);
    expect(stuffing?.distinct?.(event)).toBe('abc');
    expect(stuffing?.groupBy(event)).toEqual({ scope: 'ip', value: '203.0.113.9' });
  });
});

describe('allow-list', () => {
  it('matches addresses, networks and accounts exactly as written', () => {
    const parsed = parseAllowlist('203.0.113.0/24, 2001:db8::/32, 198.51.100.7, tg:12345');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const { allowlist } = parsed;
    expect(allowlist.allows({ scope: 'ip', value: '203.0.113.250' })).toBe(true);
    expect(allowlist.allows({ scope: 'ip', value: '203.0.114.1' })).toBe(false);
    expect(allowlist.allows({ scope: 'ip', value: '2001:db8:ffff::1' })).toBe(true);
    expect(allowlist.allows({ scope: 'ip', value: '2001:db9::1' })).toBe(false);
    expect(allowlist.allows({ scope: 'ip', value: '198.51.100.7' })).toBe(true);
    expect(allowlist.allows({ scope: 'ip', value: '198.51.100.8' })).toBe(false);
    expect(allowlist.allows({ scope: 'telegram_user', value: '12345' })).toBe(true);
    expect(allowlist.allows({ scope: 'telegram_user', value: '123456' })).toBe(false);
  });

  it.each(['203.0.113.0/33', 'example.com', '10.0.0.0/x', 'tg:'])('refuses %s', (entry) => {
    expect(parseAllowlist(entry).ok).toBe(false);
  });
});

describe('escalation', () => {
  it('doubles per repeat offence up to the cap, spread by the jitter', () => {
    expect(escalatedSeconds(100, 10_000, 0, 0.5)).toBe(100);
    expect(escalatedSeconds(100, 10_000, 1, 0.5)).toBe(200);
    expect(escalatedSeconds(100, 10_000, 3, 0.5)).toBe(800);
    expect(escalatedSeconds(100, 10_000, 20, 0.5)).toBe(10_000);
    expect(escalatedSeconds(100, 10_000, 0, 0)).toBe(100 * (1 - DURATION_JITTER));
    expect(escalatedSeconds(100, 10_000, 0, 0.999_999)).toBe(110);
    // The jitter never pushes past the cap.
    expect(escalatedSeconds(100, 10_000, 20, 0.999_999)).toBe(10_000);
  });
});

describe('targets', () => {
  it('groups IPv6 by /64 and masks what admins see', () => {
    expect(canonicalTarget({ scope: 'ip', value: '2001:db8:1:2::5' })).toBe(
      canonicalTarget({ scope: 'ip', value: '2001:db8:1:2:ffff::1' }),
    );
    expect(maskTarget({ scope: 'ip', value: '203.0.113.7' })).toBe('ip4:203.0.113.x');
    expect(maskTarget({ scope: 'telegram_user', value: '987654321' })).toBe('tg:…321');
    expect(maskTarget({ scope: 'user', value: '0f0e0d0c-1111-2222-3333-444455556666' })).toBe('user:0f0e0d0c…');
  });

  it('hashes with a key: the same target under another key does not match', () => {
    const a = createTargetHasher(Buffer.alloc(32, 1));
    const b = createTargetHasher(Buffer.alloc(32, 2));
    const target = { scope: 'ip', value: '203.0.113.7' } as const;
    expect(a(target)).toMatch(/^[0-9a-f]{32}$/);
    expect(a(target)).toBe(a({ scope: 'ip', value: '203.0.113.7' }));
    expect(a(target)).not.toBe(b(target));
    expect(a(target)).not.toBe(a({ scope: 'ip', value: '203.0.113.8' }));
  });
});
