/**
 * The configuration contract: one schema, parsed once at start from the environment.
 * `parseConfig` is pure (nothing here reads `process.env` at import); secrets that are missing outside
 * production are filled in by `resolveSecrets` (see ./secrets.ts).
 */
import { createPrivateKey } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import {
  type AntispamConfig,
  DEFAULT_ANTISPAM_CONFIG,
  parseAntispamFlood,
  parseAntispamRateLimit,
  parseStopWords,
} from '../antispam/config.ts';
import { parseAllowlist } from '../defense/allowlist.ts';
import { parseRateLimits } from '../defense/rate-limits.ts';
import { parseScenarioOverrides } from '../defense/scenarios.ts';

export const ROLES = ['api', 'bot', 'worker'] as const;
export type Role = (typeof ROLES)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Telegram allows 1-256 characters A-Z a-z 0-9 _ - in `secret_token`; we require 32 or more. */
export const WEBHOOK_SECRET_MIN_LENGTH = 32;
/** Telegram's Bot API root; tests point TELEGRAM_API_ROOT at an emulator. */
export const DEFAULT_TELEGRAM_API_ROOT = 'https://api.telegram.org';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** The project's root folder (where package-lock.json and the shipped advisories are). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The vulnerability scanner's settings (SCANNER_* keys). */
export interface ScannerConfig {
  /** OSV advisory data: a directory (searched recursively) or a .json file. Default: the shipped snapshot. */
  advisoriesPath: string;
  /** The lockfile whose packages are checked. Default: the project's package-lock.json. */
  lockfilePath: string;
  /** Base URL of this deployment's API for the HTTP header self-check. */
  selfUrl: string;
  /** A primary ring key older than this is reported as overdue for rotation. */
  keyRotationDays: number;
  /** Advisory data older than this (newest `modified` date) is reported as stale. */
  advisoriesMaxAgeDays: number;
}

/** The address the self-check calls when the API listens on every interface. */
function selfCheckHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

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
  'METRICS_TOKEN',
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
  BOT_MAX_UPDATE_AGE_SECONDS: Int(10, 86_400),
  BOT_MESSAGES_PER_SECOND: Int(1, 1_000),
  /** `on`: POST /telegram/webhook accepts only Telegram's published source ranges (needs TRUST_PROXY behind a proxy). */
  TELEGRAM_WEBHOOK_SOURCE_CHECK: Type.Optional(Type.Union([Type.Literal('on'), Type.Literal('off')])),
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
  GOOGLE_ISSUER: Str({ pattern: '^https?://[^\\s]+$' }),
  GITHUB_AUTHORIZATION_URL: Str({ pattern: '^https?://[^\\s]+$' }),
  GITHUB_TOKEN_URL: Str({ pattern: '^https?://[^\\s]+$' }),
  GITHUB_API_URL: Str({ pattern: '^https?://[^\\s]+$' }),
  DISCORD_AUTHORIZATION_URL: Str({ pattern: '^https?://[^\\s]+$' }),
  DISCORD_TOKEN_URL: Str({ pattern: '^https?://[^\\s]+$' }),
  DISCORD_API_URL: Str({ pattern: '^https?://[^\\s]+$' }),
  OAUTH_TIMEOUT_SECONDS: Int(1, 60),
  OAUTH_SIGNIN_REDIRECT_URIS: Str({ pattern: '^\\s*(https?://[^\\s,]+\\s*)(,\\s*https?://[^\\s,]+\\s*)*$' }),
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
  DEV_SIGNER_ENABLED: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  METRICS_TOKEN: Str({ pattern: '^[A-Za-z0-9_.~+/=-]{32,256}$' }),
  DEFENSE_ALLOWLIST: Str(),
  DEFENSE_SCENARIOS: Str(),
  SCANNER_ADVISORIES_PATH: Str({ minLength: 1 }),
  SCANNER_LOCKFILE_PATH: Str({ minLength: 1 }),
  SCANNER_SELF_URL: Str({ pattern: '^https?://[^\\s/]+[^\\s]*$' }),
  SCANNER_KEY_ROTATION_DAYS: Int(1, 3650),
  SCANNER_ADVISORIES_MAX_AGE_DAYS: Int(1, 3650),
  PRIVACY_CONTROLLER_NAME: Str({ minLength: 1, maxLength: 200 }),
  PRIVACY_CONTROLLER_CONTACT: Str({ minLength: 3, maxLength: 200 }),
  PRIVACY_DPO_CONTACT: Str({ minLength: 3, maxLength: 200 }),
  PRIVACY_JURISDICTION: Str({ minLength: 2, maxLength: 100 }),
  ERASURE_GRACE_DAYS: Int(0, 30),
  RETENTION_DRY_RUN: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  ANTISPAM_DRY_RUN: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  ANTISPAM_STOP_WORDS: Str({ maxLength: 8000 }),
  ANTISPAM_FLOOD: Str(),
  ANTISPAM_RATE_LIMIT: Str(),
  ANTISPAM_JOIN_CHALLENGE_SECONDS: Int(0, 3600),
  ANTISPAM_MUTE_SECONDS: Int(30, 31_622_400),
});
export type Env = Static<typeof EnvSchema>;

/** What a valid value looks like, for the error message (instead of a raw JSON-schema pattern). */
const FORMAT_HINTS: Partial<Record<keyof Env, string>> = {
  PORT: 'must be an integer from 0 to 65535',
  METRICS_TOKEN: 'must be 32-256 characters of A-Z a-z 0-9 _ . ~ + / = -',
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
  BOT_MAX_UPDATE_AGE_SECONDS: 'must be an integer from 10 to 86400',
  BOT_MESSAGES_PER_SECOND: 'must be an integer from 1 to 1000',
  TELEGRAM_WEBHOOK_SOURCE_CHECK: 'must be on or off',
  TELEGRAM_THIRD_PARTY_BOT_ID: 'must be the numeric id of the bot (the digits before ":" in its token)',
  STARTUP_TIMEOUT_SECONDS: 'must be an integer from 1 to 600',
  SHUTDOWN_TIMEOUT_SECONDS: 'must be an integer from 1 to 600',
  BODY_LIMIT_BYTES: 'must be an integer from 1024 to 52428800',
  TRUST_PROXY: 'must be false, true, a hop count, or comma-separated proxy addresses/CIDRs',
  CORS_ORIGINS: 'must be comma-separated origins such as https://app.example.com',
  TLS_CERT: 'must be the path of a PEM certificate chain',
  TLS_KEY: 'must be the path of a PEM private key',
  HTTP_REDIRECT_PORT: 'must be an integer from 0 to 65535',
  SCANNER_SELF_URL: 'must be the http(s):// base URL of this deployment’s API, e.g. http://127.0.0.1:3000',
  SCANNER_KEY_ROTATION_DAYS: 'must be an integer from 1 to 3650',
  SCANNER_ADVISORIES_MAX_AGE_DAYS: 'must be an integer from 1 to 3650',
  GOOGLE_ISSUER: 'must be an http(s):// URL (the OpenID issuer, e.g. https://accounts.google.com)',
  GITHUB_AUTHORIZATION_URL: 'must be an http(s):// URL',
  GITHUB_TOKEN_URL: 'must be an http(s):// URL',
  GITHUB_API_URL: 'must be an http(s):// URL',
  DISCORD_AUTHORIZATION_URL: 'must be an http(s):// URL',
  DISCORD_TOKEN_URL: 'must be an http(s):// URL',
  DISCORD_API_URL: 'must be an http(s):// URL',
  OAUTH_TIMEOUT_SECONDS: 'must be an integer from 1 to 60',
  OAUTH_SIGNIN_REDIRECT_URIS: 'must be comma-separated http(s):// URLs',
  ANTISPAM_STOP_WORDS: 'must be comma-separated words or phrases, 8000 characters at most',
  ANTISPAM_JOIN_CHALLENGE_SECONDS: 'must be an integer from 0 (no challenge) to 3600',
  ANTISPAM_MUTE_SECONDS: 'must be an integer from 30 to 31622400 (366 days)',
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
    /** Messages older than this when they arrive (queued during downtime) are dropped unhandled. */
    maxUpdateAgeSeconds: number;
    /** Webhook requests only from Telegram's published source ranges (TELEGRAM_WEBHOOK_SOURCE_CHECK=on). */
    webhookSourceCheck: boolean;
    /**
     * Messages per second the bot sends in all, per process (the throttler's global limit). Telegram allows about
     * 30; a bot with paid broadcasts up to 1,000.
     */
    messagesPerSecond: number;
  };
  publicUrl: string | undefined;
  adminTelegramIds: readonly number[];
  telegramLogin: {
    /** How old initData may be (seconds). */
    maxAgeSeconds: number;
    /** Accept Telegram's Ed25519 third-party signature for this bot id (no bot token needed). */
    thirdPartyBotId: number | undefined;
  };
  oauth: OAuthConfig;
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
  /** Development only: `/api/v1/dev/init-data` signs initData for a test user (refused in production). */
  devSignerEnabled: boolean;
  /** Bearer token Prometheus scrapes GET /metrics with (unset: admins only). */
  metricsToken: string | undefined;
  /** Intrusion detection: raw DEFENSE_ALLOWLIST and DEFENSE_SCENARIOS, parsed by shared/defense. */
  defense: { allowlist: string | undefined; scenarios: string | undefined };
  /** The vulnerability scanner (shared/scanner): where its inputs are and what it judges by. */
  scanner: ScannerConfig;
  /** Privacy: who the controller is (for the generated policy and receipts), erasure grace, retention mode. */
  privacy: {
    controllerName: string;
    controllerContact: string;
    dpoContact: string | undefined;
    jurisdiction: string;
    erasureGraceDays: number;
    /** The daily retention job only reports what it would remove. */
    retentionDryRun: boolean;
  };
  /** Anti-spam in groups and private chats (shared/antispam): ANTISPAM_* keys over the defaults. */
  antispam: AntispamConfig;
  /** Secrets given in the environment; missing ones are filled by `resolveSecrets`. */
  providedSecrets: Partial<Secrets>;
}

/** A provider's client registration and endpoints (the real provider's by default; overridable for tests/GHE). */
export interface OAuthProviderConfig {
  clientId: string;
  clientSecret: string;
}
/**
 * OAuth account linking and sign-in. A provider is `undefined` (not offered) without credentials.
 * Endpoints are absolute URLs: https, or http to 127.0.0.1/localhost outside production (tests).
 */
export interface OAuthConfig {
  google: (OAuthProviderConfig & { issuer: string }) | undefined;
  github: (OAuthProviderConfig & { authorizationUrl: string; tokenUrl: string; apiUrl: string }) | undefined;
  discord: (OAuthProviderConfig & { authorizationUrl: string; tokenUrl: string; apiUrl: string }) | undefined;
  /** Each call to a provider (discovery, token, user info, JWKS) is abandoned after this long. */
  timeoutSeconds: number;
  /** Exact redirect URIs external sign-in clients may use, besides loopback ones (RFC 8252 7.3). */
  signInRedirectUris: readonly string[];
}

/** The real providers' endpoints (overridden by GOOGLE_ISSUER, GITHUB_*_URL, DISCORD_*_URL). */
export const OAUTH_DEFAULT_ENDPOINTS = {
  googleIssuer: 'https://accounts.google.com',
  githubAuthorizationUrl: 'https://github.com/login/oauth/authorize',
  githubTokenUrl: 'https://github.com/login/oauth/access_token',
  githubApiUrl: 'https://api.github.com',
  discordAuthorizationUrl: 'https://discord.com/oauth2/authorize',
  discordTokenUrl: 'https://discord.com/api/oauth2/token',
  discordApiUrl: 'https://discord.com/api/v10',
} as const;

const OAUTH_URL_KEYS = [
  'GOOGLE_ISSUER',
  'GITHUB_AUTHORIZATION_URL',
  'GITHUB_TOKEN_URL',
  'GITHUB_API_URL',
  'DISCORD_AUTHORIZATION_URL',
  'DISCORD_TOKEN_URL',
  'DISCORD_API_URL',
] as const;

/** True for an https URL, or (outside production) an http URL on the loopback host, where tests run providers. */
export function isAllowedOAuthEndpoint(value: string, isProduction: boolean): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
  return url.protocol === 'http:' && loopback && !isProduction;
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
  if (env.TELEGRAM_WEBHOOK_SOURCE_CHECK === 'on' && botMode !== 'webhook') {
    problems.push(describe('TELEGRAM_WEBHOOK_SOURCE_CHECK', 'applies only with BOT_MODE=webhook', undefined));
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
  // The development signer mints initData for any Telegram id: never in production, whatever else is set.
  if (isProduction && env.DEV_SIGNER_ENABLED === 'true') {
    problems.push('DEV_SIGNER_ENABLED: must not be true when NODE_ENV=production (it signs in as anyone)');
  }
  const defenseAllowlist = parseAllowlist(raw.DEFENSE_ALLOWLIST);
  if (!defenseAllowlist.ok) {
    problems.push(describe('DEFENSE_ALLOWLIST', defenseAllowlist.reason, raw.DEFENSE_ALLOWLIST));
  }
  const antispamFlood = parseAntispamFlood(raw.ANTISPAM_FLOOD);
  if (!antispamFlood.ok) problems.push(describe('ANTISPAM_FLOOD', antispamFlood.reason, raw.ANTISPAM_FLOOD));
  const antispamRate = parseAntispamRateLimit(raw.ANTISPAM_RATE_LIMIT);
  if (!antispamRate.ok) problems.push(describe('ANTISPAM_RATE_LIMIT', antispamRate.reason, raw.ANTISPAM_RATE_LIMIT));
  const stopWords = parseStopWords(raw.ANTISPAM_STOP_WORDS);
  if (!stopWords.ok) problems.push(describe('ANTISPAM_STOP_WORDS', stopWords.reason, undefined));
  const defenseScenarios = parseScenarioOverrides(raw.DEFENSE_SCENARIOS);
  if (!defenseScenarios.ok) {
    problems.push(describe('DEFENSE_SCENARIOS', defenseScenarios.reason, raw.DEFENSE_SCENARIOS));
  }
  // A provider with half its credentials is a mistake, not "disabled": name the missing key.
  for (const provider of ['GOOGLE', 'GITHUB', 'DISCORD'] as const) {
    const id = raw[`${provider}_CLIENT_ID`];
    const secret = raw[`${provider}_CLIENT_SECRET`];
    if (id !== undefined && secret === undefined) {
      problems.push(`${provider}_CLIENT_SECRET: is required when ${provider}_CLIENT_ID is set (or unset both)`);
    }
    if (id === undefined && secret !== undefined) {
      problems.push(`${provider}_CLIENT_ID: is required when ${provider}_CLIENT_SECRET is set (or unset both)`);
    }
  }
  // Provider calls carry the client secret and the authorization code: plain http only to a local test server.
  for (const key of OAUTH_URL_KEYS) {
    const value = raw[key];
    if (value !== undefined && ok(key) && !isAllowedOAuthEndpoint(value, isProduction)) {
      problems.push(
        describe(key, 'must use https:// (http:// only to 127.0.0.1 or localhost, and not in production)', value),
      );
    }
  }
  const anyOAuth = ['GOOGLE', 'GITHUB', 'DISCORD'].some((provider) => raw[`${provider}_CLIENT_ID`] !== undefined);
  if (anyOAuth && env.PUBLIC_URL === undefined) {
    problems.push('PUBLIC_URL: is required with an OAuth provider (the redirect URI is PUBLIC_URL/api/v1/oauth/…)');
  }
  if ((raw.TLS_CERT === undefined) !== (raw.TLS_KEY === undefined)) {
    problems.push('TLS_CERT/TLS_KEY: set both to serve HTTPS directly, or neither');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const cwd = options.cwd ?? '.';
  const dataDir = env.DATA_DIR ?? './data';
  const pair = (id?: string, secret?: string) =>
    id !== undefined && secret !== undefined ? { clientId: id, clientSecret: secret } : undefined;
  const oauthConfig = (values: Env, credentials: typeof pair): OAuthConfig => {
    const google = credentials(values.GOOGLE_CLIENT_ID, values.GOOGLE_CLIENT_SECRET);
    const github = credentials(values.GITHUB_CLIENT_ID, values.GITHUB_CLIENT_SECRET);
    const discord = credentials(values.DISCORD_CLIENT_ID, values.DISCORD_CLIENT_SECRET);
    const d = OAUTH_DEFAULT_ENDPOINTS;
    return {
      google: google && { ...google, issuer: values.GOOGLE_ISSUER ?? d.googleIssuer },
      github: github && {
        ...github,
        authorizationUrl: values.GITHUB_AUTHORIZATION_URL ?? d.githubAuthorizationUrl,
        tokenUrl: values.GITHUB_TOKEN_URL ?? d.githubTokenUrl,
        apiUrl: (values.GITHUB_API_URL ?? d.githubApiUrl).replace(/\/+$/, ''),
      },
      discord: discord && {
        ...discord,
        authorizationUrl: values.DISCORD_AUTHORIZATION_URL ?? d.discordAuthorizationUrl,
        tokenUrl: values.DISCORD_TOKEN_URL ?? d.discordTokenUrl,
        apiUrl: (values.DISCORD_API_URL ?? d.discordApiUrl).replace(/\/+$/, ''),
      },
      timeoutSeconds: values.OAUTH_TIMEOUT_SECONDS ?? 10,
      signInRedirectUris: (values.OAUTH_SIGNIN_REDIRECT_URIS ?? '')
        .split(',')
        .map((uri) => uri.trim())
        .filter(Boolean),
    };
  };

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
      maxUpdateAgeSeconds: env.BOT_MAX_UPDATE_AGE_SECONDS ?? 600,
      webhookSourceCheck: env.TELEGRAM_WEBHOOK_SOURCE_CHECK === 'on',
      messagesPerSecond: env.BOT_MESSAGES_PER_SECOND ?? 30,
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
    oauth: oauthConfig(env, pair),
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
    devSignerEnabled: env.DEV_SIGNER_ENABLED === 'true' && !isProduction,
    metricsToken: env.METRICS_TOKEN,
    defense: { allowlist: env.DEFENSE_ALLOWLIST, scenarios: env.DEFENSE_SCENARIOS },
    scanner: {
      advisoriesPath: env.SCANNER_ADVISORIES_PATH
        ? resolve(cwd, env.SCANNER_ADVISORIES_PATH)
        : join(PROJECT_ROOT, 'advisories'),
      lockfilePath: env.SCANNER_LOCKFILE_PATH
        ? resolve(cwd, env.SCANNER_LOCKFILE_PATH)
        : join(PROJECT_ROOT, 'package-lock.json'),
      selfUrl: (
        env.SCANNER_SELF_URL ??
        `${env.TLS_CERT ? 'https' : 'http'}://${selfCheckHost(env.HOST ?? '127.0.0.1')}:${env.PORT ?? 3000}`
      ).replace(/\/+$/, ''),
      keyRotationDays: env.SCANNER_KEY_ROTATION_DAYS ?? 365,
      advisoriesMaxAgeDays: env.SCANNER_ADVISORIES_MAX_AGE_DAYS ?? 30,
    },
    privacy: {
      controllerName: env.PRIVACY_CONTROLLER_NAME ?? 'The operator of this service',
      controllerContact: env.PRIVACY_CONTROLLER_CONTACT ?? 'the bot’s /privacy command',
      dpoContact: env.PRIVACY_DPO_CONTACT,
      jurisdiction: env.PRIVACY_JURISDICTION ?? 'EU',
      erasureGraceDays: env.ERASURE_GRACE_DAYS ?? 7,
      retentionDryRun: env.RETENTION_DRY_RUN === 'true',
    },
    antispam: {
      ...DEFAULT_ANTISPAM_CONFIG,
      dryRun: env.ANTISPAM_DRY_RUN === 'true',
      stopWords: stopWords.ok ? stopWords.value : [],
      flood: antispamFlood.ok ? antispamFlood.value : DEFAULT_ANTISPAM_CONFIG.flood,
      rateLimit: antispamRate.ok ? antispamRate.value : DEFAULT_ANTISPAM_CONFIG.rateLimit,
      joinChallengeSeconds: env.ANTISPAM_JOIN_CHALLENGE_SECONDS ?? DEFAULT_ANTISPAM_CONFIG.joinChallengeSeconds,
      muteSeconds: env.ANTISPAM_MUTE_SECONDS ?? DEFAULT_ANTISPAM_CONFIG.muteSeconds,
    },
    providedSecrets: provided,
  };
}
