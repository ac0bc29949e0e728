/**
 * Threat: development secrets leaking into production, or generated secrets readable by other users.
 * Outside production they are generated once (0600, stable across restarts); production refuses them.
 */
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '#shared/config/index.ts';
import { resolveSecrets } from '#shared/config/secrets.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'tsp-secrets-'));

describe('resolveSecrets', () => {
  it('generates every missing secret once, mode 0600 in a 0700 folder, and reuses them', () => {
    const dataDir = tempDir();
    const first = resolveSecrets(parseConfig({ DATA_DIR: dataDir }));
    expect(first.secrets.masterKey).toHaveLength(32);
    expect(first.secrets.jwtSigningKeys).toHaveLength(1);
    expect(first.secrets.webhookSecret.length).toBeGreaterThanOrEqual(32);
    expect(first.generated.sort()).toEqual(['jwtSigningKeys', 'masterKey', 'webhookSecret']);
    const dir = join(dataDir, 'secrets');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(dir)) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);

    const second = resolveSecrets(parseConfig({ DATA_DIR: dataDir }));
    expect(second.secrets.masterKey.equals(first.secrets.masterKey)).toBe(true);
    expect(second.secrets.webhookSecret).toBe(first.secrets.webhookSecret);
    expect(second.secrets.jwtSigningKeys[0]?.equals(first.secrets.jwtSigningKeys[0] as Buffer)).toBe(true);
  });

  it('prefers secrets from the environment and generates only the rest', () => {
    const dataDir = tempDir();
    const masterKey = 'ab'.repeat(16) + 'cd'.repeat(16);
    const { secrets, generated } = resolveSecrets(parseConfig({ DATA_DIR: dataDir, MASTER_KEY: masterKey }));
    expect(secrets.masterKey.toString('hex')).toBe(masterKey);
    expect(generated).not.toContain('masterKey');
  });

  it('refuses, in production, a secret copied from the generated development files', () => {
    const dataDir = tempDir();
    const dev = resolveSecrets(parseConfig({ DATA_DIR: dataDir })).secrets;
    const signingKey = (dev.jwtSigningKeys[0] as Buffer).toString('base64url');
    const production = parseConfig({
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      MASTER_KEY: dev.masterKey.toString('hex'),
      JWT_SIGNING_KEYS: signingKey,
      TELEGRAM_WEBHOOK_SECRET: dev.webhookSecret,
    });
    let error: unknown;
    try {
      resolveSecrets(production);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((problem) => problem.split(':')[0]).sort()).toEqual([
      'JWT_SIGNING_KEYS',
      'MASTER_KEY',
      'TELEGRAM_WEBHOOK_SECRET',
    ]);
  });

  it('accepts real production secrets and writes nothing to disk', () => {
    const dataDir = tempDir();
    const other = resolveSecrets(parseConfig({ DATA_DIR: tempDir() })).secrets;
    const { generated } = resolveSecrets(
      parseConfig({
        NODE_ENV: 'production',
        DATA_DIR: dataDir,
        MASTER_KEY: other.masterKey.toString('base64url'),
        JWT_SIGNING_KEYS: (other.jwtSigningKeys[0] as Buffer).toString('base64url'),
      }),
    );
    expect(generated).toEqual([]);
    expect(readdirSync(dataDir)).toEqual([]);
  });
});
