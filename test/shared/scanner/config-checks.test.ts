/**
 * Threat: a deployment that runs with known secrets, accepts forged webhooks, lets any site call the API,
 * sends tokens over plain HTTP, leaves admins on one factor, never rotates keys, publishes its API map or
 * lets Redis drop queued jobs. Each check fires on the bad setting and stays quiet on the good one.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '#shared/config/index.ts';
import { resolveSecrets } from '#shared/config/secrets.ts';
import { type ConfigFacts, checkConfiguration, isWeakKey, readDevSecrets } from '#shared/scanner/index.ts';

const signingKey = () =>
  generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url');

const PROD_ENV = {
  NODE_ENV: 'production',
  MASTER_KEY: randomBytes(32).toString('hex'),
  JWT_SIGNING_KEYS: signingKey(),
  PUBLIC_URL: 'https://sec.example.com',
  DOCS_ENABLED: 'false',
};
const NOW = new Date('2026-11-28T12:00:00Z');

function facts(env: Record<string, string>, overrides: Partial<ConfigFacts> = {}): ConfigFacts {
  const config = parseConfig({ DATA_DIR: mkdtempSync(join(tmpdir(), 'tsp-scan-')), ...env });
  return {
    config,
    secrets: resolveSecrets(config).secrets,
    devSecrets: {},
    ringKeys: [{ id: 1, status: 'primary', createdAt: NOW, promotedAt: NOW }],
    keyRotationDays: 365,
    redisPolicy: { policy: 'noeviction', via: 'config' },
    adminMfa: { admins: 1, withoutMfa: 0 },
    now: NOW,
    ...overrides,
  };
}
const rules = (f: ConfigFacts) => checkConfiguration(f).map((finding) => finding.rule);

describe('configuration checks', () => {
  it('find nothing in a sound production configuration', () => {
    expect(checkConfiguration(facts(PROD_ENV))).toEqual([]);
  });

  it('flag development secrets reused in production, and weak keys anywhere', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tsp-scan-dev-'));
    const dev = resolveSecrets(parseConfig({ DATA_DIR: dataDir, NODE_ENV: 'development' })).secrets;
    const prod = facts({ ...PROD_ENV, DATA_DIR: dataDir }, { secrets: dev, devSecrets: readDevSecrets(dataDir) });
    const found = checkConfiguration(prod).find((f) => f.rule === 'config.dev_secrets_in_production');
    expect(found?.severity).toBe('critical');
    expect(found?.detail).toContain('MASTER_KEY, TELEGRAM_WEBHOOK_SECRET, JWT_SIGNING_KEYS');
    // The detail names the variables, never their values.
    expect(found?.detail).not.toContain(dev.masterKey.toString('hex'));
    expect(found?.detail).not.toContain(dev.webhookSecret);

    const weak = facts(PROD_ENV);
    weak.secrets = { ...weak.secrets, masterKey: Buffer.from('0102030405060708'.repeat(4), 'hex') }; // 8 distinct bytes
    expect(rules(weak)).toContain('config.weak_master_key');
    expect(isWeakKey(randomBytes(32))).toBe(false);
    expect(isWeakKey(Buffer.alloc(32))).toBe(true);
  });

  it('flag webhook mode without a real secret', () => {
    const env = { ...PROD_ENV, BOT_MODE: 'webhook', TELEGRAM_WEBHOOK_SECRET: randomBytes(24).toString('hex') };
    expect(rules(facts(env))).not.toContain('config.webhook_without_secret');
    const noSecret = facts(env);
    noSecret.config = {
      ...noSecret.config,
      providedSecrets: { ...noSecret.config.providedSecrets, webhookSecret: undefined },
    };
    expect(rules(noSecret)).toContain('config.webhook_without_secret');
    const short = facts(env);
    short.secrets = { ...short.secrets, webhookSecret: 'abc' };
    expect(rules(short)).toContain('config.webhook_without_secret');
    const guessable = facts(env);
    guessable.secrets = { ...guessable.secrets, webhookSecret: 'ab'.repeat(20) };
    expect(rules(guessable)).toContain('config.weak_webhook_secret');
  });

  it('flag a CORS wildcard, and plain-http origins in production', () => {
    const wildcard = facts(PROD_ENV);
    wildcard.config = { ...wildcard.config, corsOrigins: ['https://app.example.com', '*'] };
    const found = checkConfiguration(wildcard).find((f) => f.rule === 'config.cors_wildcard');
    expect(found?.severity).toBe('high');
    expect(rules(facts({ ...PROD_ENV, CORS_ORIGINS: 'http://app.example.com' }))).toContain(
      'config.cors_insecure_origin',
    );
    expect(rules(facts({ ...PROD_ENV, CORS_ORIGINS: 'https://app.example.com' }))).toEqual([]);
  });

  it('flag a public http URL, a plain listener in production, and a public non-production deployment', () => {
    expect(rules(facts({ NODE_ENV: 'development', PUBLIC_URL: 'http://sec.example.com' }))).toContain(
      'config.tls_off_public_url',
    );
    expect(rules(facts({ NODE_ENV: 'development', PUBLIC_URL: 'http://127.0.0.1:3000' }))).not.toContain(
      'config.tls_off_public_url',
    );
    expect(rules(facts({ ...PROD_ENV, HOST: '0.0.0.0' }))).toContain('config.plain_http_listener');
    expect(rules(facts({ ...PROD_ENV, HOST: '0.0.0.0', TRUST_PROXY: '1' }))).not.toContain(
      'config.plain_http_listener',
    );
    expect(rules(facts({ NODE_ENV: 'development', PUBLIC_URL: 'https://sec.example.com' }))).toContain(
      'config.not_production',
    );
  });

  it('flag the docs UI in production only', () => {
    expect(rules(facts({ ...PROD_ENV, DOCS_ENABLED: 'true' }))).toContain('config.docs_exposed');
    expect(rules(facts({ NODE_ENV: 'development', DOCS_ENABLED: 'true' }))).not.toContain('config.docs_exposed');
  });

  it('flag admins without MFA, or without MFA available at all', () => {
    const some = checkConfiguration(facts(PROD_ENV, { adminMfa: { admins: 3, withoutMfa: 2 } }));
    expect(some.find((f) => f.rule === 'config.admin_without_mfa')?.title).toBe('2 admin account(s) without MFA');
    expect(rules(facts(PROD_ENV, { adminMfa: { admins: 2, withoutMfa: undefined } }))).toContain(
      'config.admin_without_mfa',
    );
    expect(rules(facts(PROD_ENV, { adminMfa: { admins: 0, withoutMfa: 0 } }))).toEqual([]);
  });

  it('flag a primary key past its rotation period, counted from its promotion', () => {
    const old = new Date(NOW.getTime() - 400 * 86_400_000);
    const overdue = facts(PROD_ENV, { ringKeys: [{ id: 3, status: 'primary', createdAt: old, promotedAt: old }] });
    const found = checkConfiguration(overdue).find((f) => f.rule === 'config.key_rotation_overdue');
    expect(found?.detail).toContain('400 days');
    const recentlyPromoted = facts(PROD_ENV, {
      ringKeys: [
        { id: 3, status: 'primary', createdAt: old, promotedAt: NOW },
        { id: 2, status: 'active', createdAt: old, promotedAt: old },
      ],
    });
    expect(rules(recentlyPromoted)).toEqual([]);
    expect(rules(facts(PROD_ENV, { keyRotationDays: 30, ringKeys: overdue.ringKeys }))).toContain(
      'config.key_rotation_overdue',
    );
  });

  it('flag a Redis eviction policy other than noeviction, and say when it cannot be read', () => {
    const evicting = checkConfiguration(facts(PROD_ENV, { redisPolicy: { policy: 'allkeys-lru', via: 'info' } }));
    expect(evicting.find((f) => f.rule === 'config.redis_eviction')).toMatchObject({
      severity: 'high',
      title: 'Redis evicts keys (allkeys-lru)',
    });
    expect(rules(facts(PROD_ENV, { redisPolicy: { error: 'CONFIG disabled' } }))).toEqual([
      'config.redis_policy_unknown',
    ]);
  });
});
