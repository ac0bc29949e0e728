/**
 * Threat: a misconfigured deployment starts half-working (or with secrets echoed into logs). Every bad
 * variable must be named in one error, before any connection, without printing secret values.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '#shared/config/index.ts';

const BOT_TOKEN = '1234567890:AAFakeTokenForTestsOnly_abcdefghijklmno';

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('starts with no configuration at all, using the documented defaults', () => {
    const config = parseConfig({}, { cwd: '/srv/app' });
    expect(config.port).toBe(3000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.dataDir).toBe('/srv/app/data');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.redisIsDefault).toBe(true);
    expect([...config.roles]).toEqual(['api', 'bot', 'worker']);
    expect(config.bot.token).toBeUndefined();
    expect(config.bot.mode).toBe('polling');
    expect(config.bot.apiRoot).toBe('https://api.telegram.org');
    expect(config.isProduction).toBe(false);
  });

  it('treats empty variables as unset (KEY= lines in .env files)', () => {
    const config = parseConfig({ PORT: '', DATABASE_URL: '  ', BOT_TOKEN: '' });
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.bot.token).toBeUndefined();
  });

  it('parses every documented key', () => {
    const config = parseConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://app@db:5432/app',
      KEYSTORE_DATABASE_URL: 'postgres://app@db:5432/app_keys',
      REDIS_URL: 'redis://cache:6379/2',
      ROLES: 'api, worker',
      BOT_TOKEN,
      BOT_MODE: 'webhook',
      PUBLIC_URL: 'https://sec.example.com/',
      TELEGRAM_API_ROOT: 'http://127.0.0.1:9000/',
      ADMIN_TELEGRAM_IDS: '42, 1001',
      TELEGRAM_WEBHOOK_SECRET: 'a'.repeat(20) + 'B'.repeat(20),
    });
    expect(config.port).toBe(8080);
    expect([...config.roles]).toEqual(['api', 'worker']);
    expect(config.publicUrl).toBe('https://sec.example.com');
    expect(config.bot.apiRoot).toBe('http://127.0.0.1:9000');
    expect(config.adminTelegramIds).toEqual([42, 1001]);
    expect(config.providedSecrets.webhookSecret).toHaveLength(40);
  });

  it('names every bad variable in one error', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      DATABASE_URL: 'mysql://nope',
      ROLES: 'api,cron',
      BOT_MODE: 'carrier-pigeon',
      LOG_LEVEL: 'loud',
      ADMIN_TELEGRAM_IDS: '12,abc',
    });
    const keys = problems.map((problem) => problem.split(':')[0]);
    expect(keys).toEqual(
      expect.arrayContaining(['PORT', 'DATABASE_URL', 'ROLES', 'BOT_MODE', 'LOG_LEVEL', 'ADMIN_TELEGRAM_IDS']),
    );
    expect(problems).toHaveLength(6);
  });

  it('never echoes a secret value in the error', () => {
    const secretUrl = 'mysql://admin:hunter2-very-secret@db/app';
    let message = '';
    try {
      parseConfig({ DATABASE_URL: secretUrl, MASTER_KEY: 'short-master-key-value', PORT: '99999' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('MASTER_KEY');
    expect(message).toContain('"99999"'); // non-secret values are shown to help
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('short-master-key-value');
  });

  it('refuses a bot token pasted into another variable', () => {
    const problems = problemsOf({ PUBLIC_URL: `https://x.example/${BOT_TOKEN}` });
    expect(problems.join('\n')).toMatch(/PUBLIC_URL: looks like a Telegram bot token/);
    expect(problems.join('\n')).not.toContain(BOT_TOKEN);
  });

  it('refuses a webhook secret shorter than 32 characters or derived from the token', () => {
    expect(problemsOf({ TELEGRAM_WEBHOOK_SECRET: 'short' })[0]).toMatch(/at least 32/);
    expect(problemsOf({ TELEGRAM_WEBHOOK_SECRET: 'x'.repeat(40) })[0]).toMatch(/placeholder/);
  });

  it('keeps the key store out of the data database', () => {
    expect(problemsOf({ DATABASE_URL: 'postgres://app@db/app' })[0]).toMatch(
      /^KEYSTORE_DATABASE_URL: is required with DATABASE_URL/,
    );
    expect(
      problemsOf({
        DATABASE_URL: 'postgres://app@db:5432/app',
        KEYSTORE_DATABASE_URL: 'postgres://other:pw@db/app',
      })[0],
    ).toMatch(/^KEYSTORE_DATABASE_URL: must name a different database/);
    const config = parseConfig({
      DATABASE_URL: 'postgres://app@db/app',
      KEYSTORE_DATABASE_URL: 'postgres://app@db/app_keys',
    });
    expect(config.keystoreDatabaseUrl).toBe('postgres://app@db/app_keys');
  });

  it('needs PUBLIC_URL for webhook mode', () => {
    expect(problemsOf({ BOT_TOKEN, BOT_MODE: 'webhook' })[0]).toMatch(/^PUBLIC_URL: is required/);
  });

  describe('in production', () => {
    it('refuses to start without real secrets', () => {
      const problems = problemsOf({
        NODE_ENV: 'production',
        BOT_TOKEN,
        BOT_MODE: 'webhook',
        PUBLIC_URL: 'https://a.example',
      });
      expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual([
        'JWT_SIGNING_KEYS',
        'MASTER_KEY',
        'TELEGRAM_WEBHOOK_SECRET',
      ]);
    });

    it('refuses known development and placeholder values', () => {
      const problems = problemsOf({
        NODE_ENV: 'production',
        MASTER_KEY: '0'.repeat(64),
        JWT_SIGNING_KEYS: 'change-me',
        TELEGRAM_WEBHOOK_SECRET: 'changeme',
      });
      const text = problems.join('\n');
      expect(text).toMatch(/MASTER_KEY: is a placeholder/);
      expect(text).toMatch(/JWT_SIGNING_KEYS: is a known development value/);
      expect(text).toMatch(/TELEGRAM_WEBHOOK_SECRET: must be at least 32/);
    });

    it('requires an https PUBLIC_URL', () => {
      expect(problemsOf({ NODE_ENV: 'production', PUBLIC_URL: 'http://a.example' }).join('\n')).toMatch(
        /PUBLIC_URL: must use https/,
      );
    });
  });
});
