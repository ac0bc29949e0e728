/**
 * The configuration contract: one schema, parsed once at start from the environment.
 * `parseConfig` is pure (nothing here reads `process.env` at import); secrets that are missing outside
 * production are filled in by `resolveSecrets` (see ./secrets.ts).
 */
import { createPrivateKey } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { parseRateLimits } from '../defense/rate-limits.ts';

export const ROLES = ['api', 'bot', 'worker'] as const;
export type Role = (typeof ROLES)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Telegram allows 1-256 characters A-Z a-z 0-9 _ - in `secret_token`; we require 32 or more. */
export const WEBHOOK_SECRET_MIN_LENGTH = 32;
/** Telegram's Bot API root; tests point TELEGRAM_API_ROOT at an emulator. */
export const DEFAULT_TELEGRAM_API_ROOT = 'https://api.telegram.org';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Keys whose values are secret: never echoed in errors or logs. */
export const SECRET_KEYS = [
  'BOT_TOKEN',
  'TELEGRAM_WEBHOOK_SECRET',
  'MASTER_KEY',
  'JWT_SIGNING_KEYS',
  'GOOGLE_CLIENT_SECRET',
  'GITHUB_CLIENT_SECRET',
  'DISCORD_CLIENT_SECRET',
  'DATABASE_URL',
  'KEYSTORE_DATABASE_URL',
  'REDIS_URL',
] as const;

const Str = (options: Parameters<typeof Type.String>[0] = {}) => Type.Optional(Type.String(options));
const Int = (minimum: number, maximum: number) => Type.Optional(Type.Integer({ minimum, maximum }));

/** Every environment key the product reads. `.env.example` lists the same keys. */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Optional(Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')])),
  PORT: Int(0, 65535),
  HOST: Str({ minLength: 1 }),
  DATA_DIR: Str({ minLength: 1 }),
  LOG_LEVEL: Type.Optional(Type.Union(LOG_LEVELS.map((level) => Type.Literal(level)))),
  DATABASE_URL: Str({ pattern: '^postgres(ql)?://' }),
  KEYSTORE_DATABASE_URL: Str({ pattern: '^postgres(ql)?://' }),
  REDIS_URL: Str({ pattern: '^rediss?://' }),
  REDIS_PREFIX: Str({ pattern: '^[A-Za-z0-9_-]{1,32}$' }),
  ROLES: Str(),
  BOT_TOKEN: Str({ pattern: '^[0-9]{3,20}:[A-Za-z0-9_-]{30,}$' }),
  BOT_MODE: Type.Optional(Type.Union([Type.Literal('polling'), Type.Literal('webhook')])),
  PUBLIC_URL: Str({ pattern: '^https?://[^\\s/]+' }),
  TELEGRAM_WEBHOOK_SECRET: Str({ pattern: '^[A-Za-z0-9_-]{1,256}$' }),
  TELEGRAM_API_ROOT: Str({ pattern: '^https?://[^\\s]+$' }),
  INIT_DATA_MAX_AGE_SECONDS: Int(60, 86_400),
  TELEGRAM_THIRD_PARTY_BOT_ID: Str({ pattern: '^[0-9]{3,20}$' }),
  ADMIN_TELEGRAM_IDS: Str({ pattern: '^\\s*([0-9]{1,20}\\s*(,\\s*[0-9]{1,20}\\s*)*)?$' }),
  MASTER_KEY: Str(),
  JWT_SIGNING_KEYS: Str(),
  GOOGLE_CLIENT_ID: Str(),
  GOOGLE_CLIENT_SECRET: Str(),
  GITHUB_CLIENT_ID: Str(),
  GITHUB_CLIENT_SECRET: Str(),
  DISCORD_CLIENT_ID: Str(),
  DISCORD_CLIENT_SECRET: Str(),
  STARTUP_TIMEOUT_SECONDS: Int(1, 600),
  SHUTDOWN_TIMEOUT_SECONDS: Int(1, 600),
  BODY_LIMIT_BYTES: Int(1024, 50 * 1024 * 1024),
  TRUST_PROXY: Str({ pattern: '^(false|true|[0-9]{1,2}|[0-9a-fA-F:.,/ ]+)$' }),
  CORS_ORIGINS: Str({ pattern: '^\\s*(https?://[^\\s,]+\\s*)(,\\s*https?://[^\\s,]+\\s*)*$' }),
  RATE_LIMITS: Str(),
  TLS_CERT: Str({ minLength: 1 }),
  TLS_KEY: Str({ minLength: 1 }),
  HTTP_REDIRECT_PORT: Int(0, 65535),
  DOCS_ENABLED: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
});
export type Env = Static<typeof EnvSchema>;

/** What a valid value looks like, for the error message (instead of a raw JSON-schema pattern). */
const FORMAT_HINTS: Partial<Record<keyof Env, string>> = {
  PORT: 'must be an integer from 0 to 65535',
  DATABASE_URL: 'must be a postgres:// or postgresql:// URL',
  KEYSTORE_DATABASE_URL: 'must be a postgres:// or postgresql:// URL',
  REDIS_URL: 'must be a redis:// or rediss:// URL',
  REDIS_PREFIX: 'must be 1-32 characters of A-Z a-z 0-9 _ -',
  BOT_TOKEN: 'must look like 123456789:AAE… (the token @BotFather gave you)',
  PUBLIC_URL: 'must be an http(s):// URL such as https://sec.example.com',
  TELEGRAM_WEBHOOK_SECRET: 'must be characters A-Z a-z 0-9 _ - only (Telegram’s rule), 32 to 256 of them',
  TELEGRAM_API_ROOT: 'must be an http(s):// URL',
  ADMIN_TELEGRAM_IDS: 'must be comma-separated numeric Telegram ids',
  INIT_DATA_MAX_AGE_SECONDS: 'must be an integer from 60 to 86400',
  TELEGRAM_THIRD_PARTY_BOT_ID: 'must be the numeric id of the bot (the digits before ":" in its token)',
  STARTUP_TIMEOUT_SECONDS: 'must be an integer from 1 to 600',
  SHUTDOWN_TIMEOUT_SECONDS: 'must be an integer from 1 to 600',
  BODY_LIMIT_BYTES: 'must be an integer from 1024 to 52428800',
  TRUST_PROXY: 'must be false, true, a hop count, or comma-separated proxy addresses/CIDRs',
  CORS_ORIGINS: 'must be comma-separated origins such as https://app.example.com',
  TLS_CERT: 'must be the path of a PEM certificate chain',
  TLS_KEY: 'must be the path of a PEM private key',
  HTTP_REDIRECT_PORT: 'must be an integer from 0 to 65535',
};
export const ENV_KEYS = Object.keys(EnvSchema.properties) as (keyof Env)[];

export interface Secrets {
  /** 32-byte master key; never stored in the database. */
  masterKey: Buffer;
  /** Ed25519 private keys (PKCS#8 DER), the first one signs. */
  jwtSigningKeys: Buffer[];
  /** `secret_token` Telegram sends with every webhook update. */
  webhookSecret: string;
}

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  isProduction: boolean;
  port: number;
  host: string;
  /** Absolute path of the data folder (PGlite, embedded Redis, dev secrets). */
  dataDir: string;
  logLevel: LogLevel;
  /** Unset → embedded PGlite in `dataDir/pglite`. */
  databaseUrl: string | undefined;
  /** The key store's database (per-user data keys); unset with PGlite → its own PGlite in `dataDir/keystore`. */
  keystoreDatabaseUrl: string | undefined;
  redisUrl: string;
  /** Prefix of every Redis key (several deployments can share one Redis). */
  redisPrefix: string;
  /** True when REDIS_URL was not set: an embedded redis-server may be started if nothing answers. */
  redisIsDefault: boolean;
  roles: ReadonlySet<Role>;
  bot: {
    token: string | undefined;
    mode: 'polling' | 'webhook';
    apiRoot: string;
  };
  publicUrl: string | undefined;
  adminTelegramIds: readonly number[];
  telegramLogin: {
    /** How old initData may be (seconds). */
    maxAgeSeconds: number;
    /** Accept Telegram's Ed25519 third-party signature for this bot id (no bot token needed). */
    thirdPartyBotId: number | undefined;
  };
  oauth: Record<'google' | 'github' | 'discord', { clientId: string; clientSecret: string } | undefined>;
  startupTimeoutSeconds: number;
  shutdownTimeoutSeconds: number;
  bodyLimitBytes: number;
  /** Fastify `trustProxy`: whether X-Forwarded-For is believed (off by default). */
  trustProxy: boolean | number | string;
  /** Origins allowed by CORS (default: PUBLIC_URL's origin only). */
  corsOrigins: readonly string[];
  /** Raw RATE_LIMITS override ("group=max/window,…"), parsed by the rate-limit plugin. */
  rateLimits: string | undefined;
  tls: { certPath: string; keyPath: string; redirectPort: number | undefined } | undefined;
  docsEnabled: boolean;
  /** Secrets given in the environment; missing ones are filled by `resolveSecrets`. */
  providedSecrets: Partial<Secrets>;
}

/** One error listing every bad variable (names and reasons, never secret values). */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Values that must never protect a production deployment: placeholders from docs and trivially weak keys.
 * Secrets generated into DATA_DIR/secrets are refused too (see `resolveSecrets`).
 */
export const KNOWN_DEV_SECRET_VALUES: readonly string[] = [
  'change-me',
  'changeme',
  'secret',
  'dev',
  'development',
  'test',
  'password',
  'replace-with-a-long-random-value',
];

/** Decodes a 32-byte key given as 64 hex characters or base64/base64url. Returns undefined when malformed. */
export function decodeKey32(value: string): Buffer | undefined {
  const trimmed = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    return bytes.length === 32 ? bytes : undefined;
  }
  return undefined;
}

/** Decodes comma-separated base64url PKCS#8 DER Ed25519 private keys. Returns undefined when any is malformed. */
export function decodeSigningKeys(value: string): Buffer[] | undefined {
  const parts = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (parts.length === 0) return undefined;
  const keys: Buffer[] = [];
  for (const part of parts) {
    try {
      const der = Buffer.from(part, 'base64url');
      const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      if (key.asymmetricKeyType !== 'ed25519') return undefined;
      keys.push(der);
    } catch {
      return undefined;
    }
  }
  return keys;
}

/** A key of one repeated byte (all zeros, all 0x41, …) is a placeholder, not a secret. */
export function isTriviallyWeak(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes.every((byte) => byte === bytes[0]);
}

function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^[0-9]{1,2}$/.test(value)) return Number(value);
  return value;
}

/** Host, port and database name equal (credentials aside). */
function sameDatabase(a: string, b: string): boolean {
  try {
    const left = new URL(a);
    const right = new URL(b);
    const port = (url: URL) => url.port || '5432';
    return left.hostname === right.hostname && port(left) === port(right) && left.pathname === right.pathname;
  } catch {
    return false;
  }
}

function describe(key: string, message: string, value: unknown): string {
  const isSecret = (SECRET_KEYS as readonly string[]).includes(key);
  const shown = isSecret || value === undefined ? '' : ` (got ${JSON.stringify(String(value).slice(0, 60))})`;
  return `${key}: ${message}${shown}`;
}

/**
 * Parses and validates the environment once.
 * @throws ConfigError naming every bad variable, before any connection is opened.
 * @example const config = parseConfig(process.env, { cwd: process.cwd() });
 */
export function parseConfig(source: Record<string, string | undefined>, options: { cwd?: string } = {}): Config {
  const raw: Record<string, string> = {};
  for (const key of ENV_KEYS) {
    const value = source[key];
    // An empty variable means "unset": docker-compose and .env files write KEY= for defaults.
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim();
  }
  const env = Value.Convert(EnvSchema, { ...raw }) as Env;
  const problems: string[] = [];
  // Checked key by key so every bad variable is reported once, with one readable reason.
  for (const key of ENV_KEYS) {
    const value = (env as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const schema = EnvSchema.properties[key];
    const [error] = Value.Errors(schema, value);
    if (!error) continue;
    const choices = (schema as { anyOf?: { const?: unknown }[] }).anyOf?.map((option) => option.const);
    const reason = choices ? `must be one of ${choices.join(', ')}` : (FORMAT_HINTS[key] ?? error.message);
    problems.push(describe(key, reason, raw[key]));
  }
  const bad = new Set(problems.map((problem) => problem.split(':')[0]));
  const ok = (key: keyof Env) => !bad.has(key) && env[key] !== undefined;

  const nodeEnv = env.NODE_ENV ?? 'development';
  const isProduction = nodeEnv === 'production';

  const roles = new Set<Role>();
  if (env.ROLES !== undefined) {
    const names = env.ROLES.split(',').map((name) => name.trim());
    const unknown = names.filter((name) => !(ROLES as readonly string[]).includes(name));
    if (unknown.length > 0 || names.length === 0 || names.every((name) => name === '')) {
      problems.push(describe('ROLES', `must be a comma-separated subset of ${ROLES.join(',')}`, env.ROLES));
    }
    for (const name of names) if ((ROLES as readonly string[]).includes(name)) roles.add(name as Role);
  } else {
    for (const role of ROLES) roles.add(role);
  }

  const botMode = env.BOT_MODE ?? 'polling';
  const provided: Partial<Secrets> = {};
  if (ok('MASTER_KEY')) {
    const key = decodeKey32(env.MASTER_KEY as string);
    if (!key) problems.push(describe('MASTER_KEY', 'must be 32 bytes as 64 hex characters or base64url', undefined));
    else if (isTriviallyWeak(key))
      problems.push(describe('MASTER_KEY', 'is a placeholder (one repeated byte)', undefined));
    else provided.masterKey = key;
  }
  if (ok('JWT_SIGNING_KEYS')) {
    const keys = decodeSigningKeys(env.JWT_SIGNING_KEYS as string);
    if (!keys) {
      problems.push(
        describe('JWT_SIGNING_KEYS', 'must be comma-separated base64url PKCS#8 Ed25519 private keys', undefined),
      );
    } else provided.jwtSigningKeys = keys;
  }
  if (ok('TELEGRAM_WEBHOOK_SECRET')) {
    const secret = env.TELEGRAM_WEBHOOK_SECRET as string;
    if (secret.length < WEBHOOK_SECRET_MIN_LENGTH) {
      problems.push(
        describe('TELEGRAM_WEBHOOK_SECRET', `must be at least ${WEBHOOK_SECRET_MIN_LENGTH} characters`, undefined),
      );
    } else if (env.BOT_TOKEN !== undefined && secret === env.BOT_TOKEN.replace(':', '')) {
      problems.push(describe('TELEGRAM_WEBHOOK_SECRET', 'must not be derived from the bot token', undefined));
    } else if (isTriviallyWeak(Buffer.from(secret))) {
      problems.push(describe('TELEGRAM_WEBHOOK_SECRET', 'is a placeholder (one repeated character)', undefined));
    } else provided.webhookSecret = secret;
  }
  // A bot token pasted into the wrong variable would leak through logs or URLs: refuse it anywhere else.
  const tokenShape = /[0-9]{3,20}:[A-Za-z0-9_-]{30,}/;
  for (const key of ENV_KEYS) {
    if (key === 'BOT_TOKEN') continue;
    if (raw[key] !== undefined && tokenShape.test(raw[key])) {
      problems.push(describe(key, 'looks like a Telegram bot token; it belongs in BOT_TOKEN only', undefined));
    }
  }

  if (isProduction) {
    const missing: string[] = [];
    if (!raw.MASTER_KEY) missing.push('MASTER_KEY');
    if (!raw.JWT_SIGNING_KEYS) missing.push('JWT_SIGNING_KEYS');
    if (botMode === 'webhook' && !raw.TELEGRAM_WEBHOOK_SECRET) missing.push('TELEGRAM_WEBHOOK_SECRET');
    for (const key of missing) problems.push(`${key}: is required when NODE_ENV=production (no generated secrets)`);
    for (const key of ['MASTER_KEY', 'JWT_SIGNING_KEYS', 'TELEGRAM_WEBHOOK_SECRET'] as const) {
      const value = raw[key]?.toLowerCase();
      if (value !== undefined && KNOWN_DEV_SECRET_VALUES.includes(value)) {
        problems.push(`${key}: is a known development value and is refused in production`);
      }
    }
    if (env.PUBLIC_URL !== undefined && !env.PUBLIC_URL.startsWith('https://')) {
      problems.push(describe('PUBLIC_URL', 'must use https:// in production', env.PUBLIC_URL));
    }
  }
  if (botMode === 'webhook' && env.BOT_TOKEN !== undefined && roles.has('bot') && env.PUBLIC_URL === undefined) {
    problems.push('PUBLIC_URL: is required with BOT_MODE=webhook (Telegram needs an https URL to send updates to)');
  }

  // Data keys must not sit in the database they protect: a dump of the data would carry the keys with it,
  // and crypto-shredding could not reach old backups.
  if (ok('DATABASE_URL') && !raw.KEYSTORE_DATABASE_URL) {
    problems.push(
      'KEYSTORE_DATABASE_URL: is required with DATABASE_URL (a second database, e.g. on the same server, ' +
        'holds the per-user data keys so backups of the data can be crypto-shredded)',
    );
  } else if (
    ok('DATABASE_URL') &&
    raw.DATABASE_URL &&
    raw.KEYSTORE_DATABASE_URL &&
    sameDatabase(raw.DATABASE_URL, raw.KEYSTORE_DATABASE_URL)
  ) {
    problems.push('KEYSTORE_DATABASE_URL: must name a different database from DATABASE_URL');
  }

  const rateLimits = parseRateLimits(raw.RATE_LIMITS);
  if (!rateLimits.ok) problems.push(describe('RATE_LIMITS', rateLimits.reason, raw.RATE_LIMITS));
  if ((raw.TLS_CERT === undefined) !== (raw.TLS_KEY === undefined)) {
    problems.push('TLS_CERT/TLS_KEY: set both to serve HTTPS directly, or neither');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const cwd = options.cwd ?? '.';
  const dataDir = env.DATA_DIR ?? './data';
  const pair = (id?: string, secret?: string) =>
    id !== undefined && secret !== undefined ? { clientId: id, clientSecret: secret } : undefined;

  return {
    nodeEnv,
    isProduction,
    port: env.PORT ?? 3000,
    host: env.HOST ?? '127.0.0.1',
    dataDir: isAbsolute(dataDir) ? dataDir : resolve(cwd, dataDir),
    logLevel: env.LOG_LEVEL ?? (nodeEnv === 'test' ? 'warn' : 'info'),
    databaseUrl: env.DATABASE_URL,
    keystoreDatabaseUrl: env.KEYSTORE_DATABASE_URL,
    redisUrl: env.REDIS_URL ?? DEFAULT_REDIS_URL,
    redisIsDefault: env.REDIS_URL === undefined,
    redisPrefix: env.REDIS_PREFIX ?? 'tsp',
    roles,
    bot: {
      token: env.BOT_TOKEN,
      mode: botMode,
      apiRoot: (env.TELEGRAM_API_ROOT ?? DEFAULT_TELEGRAM_API_ROOT).replace(/\/+$/, ''),
    },
    publicUrl: env.PUBLIC_URL?.replace(/\/+$/, ''),
    adminTelegramIds: (env.ADMIN_TELEGRAM_IDS ?? '')
      .split(',')
      .map((id) => id.trim())
      .filter(Boolean)
      .map(Number),
    telegramLogin: {
      maxAgeSeconds: env.INIT_DATA_MAX_AGE_SECONDS ?? 3600,
      thirdPartyBotId: env.TELEGRAM_THIRD_PARTY_BOT_ID ? Number(env.TELEGRAM_THIRD_PARTY_BOT_ID) : undefined,
    },
    oauth: {
      google: pair(env.GOOGLE_CLIENT_ID, env.GOOGLE_CLIENT_SECRET),
      github: pair(env.GITHUB_CLIENT_ID, env.GITHUB_CLIENT_SECRET),
      discord: pair(env.DISCORD_CLIENT_ID, env.DISCORD_CLIENT_SECRET),
    },
    startupTimeoutSeconds: env.STARTUP_TIMEOUT_SECONDS ?? 30,
    shutdownTimeoutSeconds: env.SHUTDOWN_TIMEOUT_SECONDS ?? 25,
    bodyLimitBytes: env.BODY_LIMIT_BYTES ?? 64 * 1024,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    corsOrigins: (env.CORS_ORIGINS ?? (env.PUBLIC_URL ? new URL(env.PUBLIC_URL).origin : ''))
      .split(',')
      .map((origin) => origin.trim().replace(/\/+$/, ''))
      .filter(Boolean),
    rateLimits: env.RATE_LIMITS,
    tls:
      env.TLS_CERT && env.TLS_KEY
        ? { certPath: env.TLS_CERT, keyPath: env.TLS_KEY, redirectPort: env.HTTP_REDIRECT_PORT }
        : undefined,
    docsEnabled: env.DOCS_ENABLED ? env.DOCS_ENABLED === 'true' : nodeEnv !== 'production',
    providedSecrets: provided,
  };
}
