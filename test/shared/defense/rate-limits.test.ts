/**
 * Threat: a limit silently not applied, because RATE_LIMITS was mistyped (a wrong group name, a missing
 * window) or because a route landed in a laxer group than it belongs to.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '#shared/config/index.ts';
import { DEFAULT_RATE_LIMITS, parseRateLimits, rateLimitGroupOf } from '#shared/defense/rate-limits.ts';

describe('parseRateLimits', () => {
  it('gives the defaults when unset or blank', () => {
    expect(parseRateLimits(undefined)).toEqual({ ok: true, limits: DEFAULT_RATE_LIMITS });
    expect(parseRateLimits('  ')).toEqual({ ok: true, limits: DEFAULT_RATE_LIMITS });
  });

  it('overrides the named groups only', () => {
    const result = parseRateLimits('auth=10/60, global = 1000/30');
    expect(result).toEqual({
      ok: true,
      limits: {
        auth: { max: 10, windowSeconds: 60 },
        api: DEFAULT_RATE_LIMITS.api,
        global: { max: 1000, windowSeconds: 30 },
      },
    });
  });

  it.each([
    ['auth=10', 'is not group=requests/windowSeconds'],
    ['login=10/60', 'unknown group "login"'],
    ['auth=10/60,auth=5/60', 'given twice'],
    ['auth=0/60', 'requests must be'],
    ['auth=10/0', 'window must be'],
    ['auth=10/999999', 'window must be'],
    ['auth=-1/60', 'is not group'],
    ['auth=10/60,', 'is not group'],
  ])('refuses %j', (value, reason) => {
    const result = parseRateLimits(value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  it('makes a bad RATE_LIMITS a configuration error', () => {
    let error: unknown;
    try {
      parseConfig({ NODE_ENV: 'test', RATE_LIMITS: 'auth=ten/60' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join('\n')).toMatch(/^RATE_LIMITS: /m);
  });
});

describe('rateLimitGroupOf', () => {
  it.each([
    ['/api/v1/auth/telegram', 'auth'],
    ['/api/v1/auth/refresh', 'auth'],
    ['/api/v1/oauth/:provider/callback', 'auth'],
    ['/api/v1/me', 'api'],
    ['/api/v1/sessions/:id', 'api'],
    ['/api/v1/oauth/:provider/start', 'api'],
    ['/healthz', 'global'],
    ['/app/*', 'global'],
    [undefined, 'global'],
  ])('%s → %s', (pattern, group) => {
    expect(rateLimitGroupOf(pattern)).toBe(group);
  });
});
