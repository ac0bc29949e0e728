/**
 * Threat: a half-configured or mis-pointed provider. A client id without its secret (or the reverse) is a
 * mistake that must stop the start, naming the missing key; provider endpoints over plain http would carry
 * the client secret and codes in clear, so http is accepted only for a loopback test provider outside
 * production; a provider without credentials is simply not offered.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, OAUTH_DEFAULT_ENDPOINTS, parseConfig } from '#shared/config/index.ts';
import { createProviders } from '#shared/oauth/providers.ts';

const base = { NODE_ENV: 'test', PUBLIC_URL: 'https://sec.example.com' };
const problemsOf = (env: Record<string, string>) => {
  try {
    parseConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

describe('OAuth configuration', () => {
  it('offers no provider without credentials', () => {
    const config = parseConfig(base);
    expect(config.oauth.google).toBeUndefined();
    expect(config.oauth.github).toBeUndefined();
    expect(config.oauth.discord).toBeUndefined();
    expect(createProviders(config.oauth, { isProduction: false }).size).toBe(0);
  });

  it('uses the real providers’ endpoints by default', () => {
    const config = parseConfig({
      ...base,
      GOOGLE_CLIENT_ID: 'g',
      GOOGLE_CLIENT_SECRET: 'gs',
      GITHUB_CLIENT_ID: 'h',
      GITHUB_CLIENT_SECRET: 'hs',
      DISCORD_CLIENT_ID: 'd',
      DISCORD_CLIENT_SECRET: 'ds',
    });
    expect(config.oauth.google).toEqual({ clientId: 'g', clientSecret: 'gs', issuer: 'https://accounts.google.com' });
    expect(config.oauth.github).toMatchObject({
      authorizationUrl: 'https://github.com/login/oauth/authorize',
      tokenUrl: 'https://github.com/login/oauth/access_token',
      apiUrl: 'https://api.github.com',
    });
    expect(config.oauth.discord).toMatchObject({
      authorizationUrl: OAUTH_DEFAULT_ENDPOINTS.discordAuthorizationUrl,
      tokenUrl: 'https://discord.com/api/oauth2/token',
      apiUrl: 'https://discord.com/api/v10',
    });
    expect([...createProviders(config.oauth, { isProduction: false }).keys()]).toEqual(['google', 'github', 'discord']);
    expect(config.oauth.timeoutSeconds).toBe(10);
  });

  it('accepts GitHub Enterprise endpoints', () => {
    const config = parseConfig({
      ...base,
      GITHUB_CLIENT_ID: 'h',
      GITHUB_CLIENT_SECRET: 'hs',
      GITHUB_AUTHORIZATION_URL: 'https://ghe.example.com/login/oauth/authorize',
      GITHUB_TOKEN_URL: 'https://ghe.example.com/login/oauth/access_token',
      GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
    });
    expect(config.oauth.github?.apiUrl).toBe('https://ghe.example.com/api/v3');
  });

  it('names the missing half of a provider’s credentials', () => {
    expect(problemsOf({ ...base, GOOGLE_CLIENT_ID: 'g' })).toEqual([
      'GOOGLE_CLIENT_SECRET: is required when GOOGLE_CLIENT_ID is set (or unset both)',
    ]);
    expect(problemsOf({ ...base, DISCORD_CLIENT_SECRET: 'ds' })).toEqual([
      'DISCORD_CLIENT_ID: is required when DISCORD_CLIENT_SECRET is set (or unset both)',
    ]);
  });

  it('needs PUBLIC_URL (the redirect URI is built from it)', () => {
    const problems = problemsOf({ NODE_ENV: 'test', GITHUB_CLIENT_ID: 'h', GITHUB_CLIENT_SECRET: 'hs' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PUBLIC_URL: is required with an OAuth provider/);
  });

  it('refuses plain http endpoints except loopback outside production', () => {
    const github = { GITHUB_CLIENT_ID: 'h', GITHUB_CLIENT_SECRET: 'hs' };
    expect(problemsOf({ ...base, ...github, GITHUB_TOKEN_URL: 'http://127.0.0.1:8080/token' })).toEqual([]);
    expect(problemsOf({ ...base, ...github, GITHUB_TOKEN_URL: 'http://localhost:8080/token' })).toEqual([]);
    const remote = problemsOf({ ...base, ...github, GITHUB_TOKEN_URL: 'http://ghe.example.com/token' });
    expect(remote).toHaveLength(1);
    expect(remote[0]).toMatch(/^GITHUB_TOKEN_URL: must use https:\/\//);
    const production = problemsOf({
      ...base,
      ...github,
      NODE_ENV: 'production',
      MASTER_KEY: 'a'.repeat(32) + 'b'.repeat(32),
      GOOGLE_CLIENT_ID: 'g',
      GOOGLE_CLIENT_SECRET: 'gs',
      GOOGLE_ISSUER: 'http://127.0.0.1:9000',
    });
    expect(production.some((problem) => problem.startsWith('GOOGLE_ISSUER: must use https://'))).toBe(true);
  });

  it('never echoes a client secret in a problem', () => {
    const problems = problemsOf({ ...base, GITHUB_CLIENT_SECRET: 'very-secret-value-123' });
    expect(problems.join('\n')).not.toContain('very-secret-value-123');
  });
});
