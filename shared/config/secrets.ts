/**
 * Secrets: taken from the environment, or (outside production only) generated once into
 * `DATA_DIR/secrets` with mode 0600 so a newcomer's `npm start` needs no configuration.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constantTimeEqual, randomBytesOf, randomToken } from '../crypto/random.ts';
import { type Config, ConfigError, decodeKey32, decodeSigningKeys, type Secrets } from './index.ts';

export const FILES = {
  masterKey: 'master.key',
  jwtSigningKeys: 'jwt-signing.keys',
  webhookSecret: 'webhook.secret',
} as const;

export interface ResolvedSecrets {
  secrets: Secrets;
  /** Names of the secrets that were generated or read from DATA_DIR/secrets (for one warning line). */
  generated: string[];
}

function newSigningKey(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url');
}

/**
 * Completes the secrets of a parsed config.
 * In production every secret must come from the environment, and none may equal a generated dev secret.
 * @throws ConfigError when a production secret is a development one or a stored dev secret is corrupt.
 */
export function resolveSecrets(config: Config): ResolvedSecrets {
  const dir = join(config.dataDir, 'secrets');
  const path = (name: keyof typeof FILES) => join(dir, FILES[name]);
  const read = (name: keyof typeof FILES) =>
    existsSync(path(name)) ? readFileSync(path(name), 'utf8').trim() : undefined;
  const provided = config.providedSecrets;

  if (config.isProduction) {
    const problems: string[] = [];
    // A dev secret copied into production config would be known to everyone who had the dev machine.
    const devMaster = read('masterKey');
    if (
      provided.masterKey &&
      devMaster &&
      constantTimeEqual(provided.masterKey, decodeKey32(devMaster) ?? Buffer.alloc(0))
    ) {
      problems.push('MASTER_KEY: equals the generated development key and is refused in production');
    }
    const devWebhook = read('webhookSecret');
    if (provided.webhookSecret && devWebhook && constantTimeEqual(provided.webhookSecret, devWebhook)) {
      problems.push('TELEGRAM_WEBHOOK_SECRET: equals the generated development secret and is refused in production');
    }
    const devJwt = read('jwtSigningKeys');
    if (provided.jwtSigningKeys && devJwt) {
      const devKeys = decodeSigningKeys(devJwt) ?? [];
      if (provided.jwtSigningKeys.some((key) => devKeys.some((dev) => constantTimeEqual(key, dev)))) {
        problems.push('JWT_SIGNING_KEYS: contains the generated development key and is refused in production');
      }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return {
      secrets: {
        masterKey: provided.masterKey as Buffer,
        jwtSigningKeys: provided.jwtSigningKeys as Buffer[],
        // Production webhook mode requires the secret (checked by parseConfig); polling mode never uses it.
        webhookSecret: provided.webhookSecret ?? randomToken(32),
      },
      generated: [],
    };
  }

  const generated: string[] = [];
  const loadOrCreate = (name: keyof typeof FILES, create: () => string): string => {
    const existing = read(name);
    if (existing !== undefined) {
      generated.push(name);
      return existing;
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const value = create();
    // wx: never overwrite a secret another process wrote a moment ago.
    try {
      writeFileSync(path(name), `${value}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return read(name) as string;
      throw error;
    }
    generated.push(name);
    return value;
  };

  const masterKey =
    provided.masterKey ?? decodeKey32(loadOrCreate('masterKey', () => randomBytesOf(32).toString('base64url')));
  const jwtSigningKeys = provided.jwtSigningKeys ?? decodeSigningKeys(loadOrCreate('jwtSigningKeys', newSigningKey));
  const webhookSecret = provided.webhookSecret ?? loadOrCreate('webhookSecret', () => randomToken(32));
  const problems: string[] = [];
  if (!masterKey) problems.push(`${path('masterKey')}: is corrupt; delete it to generate a new development key`);
  if (!jwtSigningKeys) problems.push(`${path('jwtSigningKeys')}: is corrupt; delete it to generate new keys`);
  if (problems.length > 0 || !masterKey || !jwtSigningKeys) throw new ConfigError(problems);
  return { secrets: { masterKey, jwtSigningKeys, webhookSecret }, generated };
}
