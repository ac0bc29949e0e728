/**
 * Configuration checks: the running deployment's settings against what a safe production deployment needs.
 * Pure: the caller gathers the facts (probes.ts) and these functions judge them, so each rule is tested
 * on its own.
 */
import { type Config, isTriviallyWeak, KNOWN_DEV_SECRET_VALUES, type Secrets } from '../config/index.ts';
import { constantTimeEqual } from '../crypto/random.ts';
import { type Finding, finding } from './finding.ts';

/** The development secrets generated into DATA_DIR/secrets (raw file contents), when present. */
export interface DevSecrets {
  masterKey?: Buffer | undefined;
  webhookSecret?: string | undefined;
  jwtSigningKeys?: Buffer[] | undefined;
}

export interface RingKeyInfo {
  id: number;
  status: 'primary' | 'active' | 'retired';
  createdAt: Date;
  promotedAt: Date | null;
}

/** What CONFIG GET maxmemory-policy (or INFO memory) said. */
export type RedisPolicy = { policy: string; via: 'config' | 'info' } | { error: string };

/** Admin accounts and how many have no active second factor (undefined: MFA is not available). */
export interface AdminMfaFacts {
  admins: number;
  withoutMfa: number | undefined;
}

export interface ConfigFacts {
  config: Config;
  secrets: Secrets;
  devSecrets: DevSecrets;
  ringKeys: readonly RingKeyInfo[];
  /** A primary key older than this many days is overdue for rotation. */
  keyRotationDays: number;
  redisPolicy: RedisPolicy;
  adminMfa: AdminMfaFacts;
  now: Date;
}

/** Fewer distinct bytes than this in a 32-byte key means it was not drawn at random (a random one has ~28). */
export const MIN_DISTINCT_KEY_BYTES = 12;
/** Telegram's limit is 256; we ask 32+ characters (shared/config WEBHOOK_SECRET_MIN_LENGTH). */
const WEBHOOK_SECRET_MIN = 32;
const DAY_MS = 86_400_000;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isLoopbackUrl(value: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(value).hostname);
  } catch {
    return false;
  }
}

/** A key that is one repeated byte, or has too few distinct bytes to be random. */
export function isWeakKey(key: Uint8Array): boolean {
  return isTriviallyWeak(key) || new Set(key).size < MIN_DISTINCT_KEY_BYTES;
}

/** Development secrets or weak keys where real ones are needed. */
export function checkSecrets(facts: ConfigFacts): Finding[] {
  const { config, secrets, devSecrets } = facts;
  const found: Finding[] = [];
  if (isWeakKey(secrets.masterKey)) {
    found.push(
      finding(
        'config',
        'config.weak_master_key',
        'weak_master_key',
        'critical',
        'MASTER_KEY is weak',
        'The master key has too little randomness to protect the key ring. Generate one with `openssl rand -hex 32`, then rotate the key ring.',
      ),
    );
  }
  const webhook = secrets.webhookSecret;
  if (
    config.bot.mode === 'webhook' &&
    webhook.length >= WEBHOOK_SECRET_MIN &&
    (KNOWN_DEV_SECRET_VALUES.includes(webhook.toLowerCase()) || new Set(webhook).size < MIN_DISTINCT_KEY_BYTES)
  ) {
    found.push(
      finding(
        'config',
        'config.weak_webhook_secret',
        'weak_webhook_secret',
        'high',
        'TELEGRAM_WEBHOOK_SECRET is weak',
        'The webhook secret is guessable, so anyone could post fake updates. Set TELEGRAM_WEBHOOK_SECRET to `openssl rand -hex 32`.',
      ),
    );
  }
  if (!config.isProduction) return found;
  // In production every secret must be the operator's own: a development one is known to every machine
  // that ran the project in development.
  const reused: string[] = [];
  if (devSecrets.masterKey && constantTimeEqual(secrets.masterKey, devSecrets.masterKey)) reused.push('MASTER_KEY');
  if (devSecrets.webhookSecret && constantTimeEqual(secrets.webhookSecret, devSecrets.webhookSecret)) {
    reused.push('TELEGRAM_WEBHOOK_SECRET');
  }
  const devJwt = devSecrets.jwtSigningKeys ?? [];
  if (secrets.jwtSigningKeys.some((key) => devJwt.some((dev) => constantTimeEqual(key, dev)))) {
    reused.push('JWT_SIGNING_KEYS');
  }
  if (reused.length > 0) {
    found.push(
      finding(
        'config',
        'config.dev_secrets_in_production',
        'dev_secrets_in_production',
        'critical',
        'Development secrets in production',
        `${reused.join(', ')} equal the development values in DATA_DIR/secrets. Generate new ones (README, Configuration) and rotate.`,
      ),
    );
  }
  return found;
}

/** Webhook mode accepts only updates carrying the secret: without one, anyone can post updates. */
export function checkWebhook(facts: ConfigFacts): Finding[] {
  const { config, secrets } = facts;
  if (config.bot.mode !== 'webhook') return [];
  const provided = config.providedSecrets.webhookSecret;
  if (secrets.webhookSecret.length >= WEBHOOK_SECRET_MIN && (provided !== undefined || !config.isProduction)) {
    return [];
  }
  return [
    finding(
      'config',
      'config.webhook_without_secret',
      'webhook_without_secret',
      'high',
      'Webhook mode without a secret',
      'BOT_MODE=webhook but TELEGRAM_WEBHOOK_SECRET is not set (or shorter than 32 characters): forged updates could reach the bot. Set it to `openssl rand -hex 32`.',
    ),
  ];
}

/** CORS that answers any origin (or an insecure one) lets other sites read authenticated responses. */
export function checkCors(facts: ConfigFacts): Finding[] {
  const { config } = facts;
  const wildcard = config.corsOrigins.filter((origin) => origin === '*' || origin.includes('*') || origin === 'null');
  if (wildcard.length > 0) {
    return [
      finding(
        'config',
        'config.cors_wildcard',
        'cors_wildcard',
        'high',
        'CORS allows any origin',
        `CORS_ORIGINS contains ${wildcard.join(', ')}: any website could call the API with a user’s credentials. List exact origins instead.`,
      ),
    ];
  }
  const insecure = config.corsOrigins.filter((origin) => origin.startsWith('http://') && !isLoopbackUrl(origin));
  if (config.isProduction && insecure.length > 0) {
    return [
      finding(
        'config',
        'config.cors_insecure_origin',
        'cors_insecure_origin',
        'medium',
        'CORS allows a plain-http origin',
        `CORS_ORIGINS contains ${insecure.join(', ')}: a network attacker can impersonate an http origin. Use https origins only.`,
      ),
    ];
  }
  return [];
}

/** A public http URL (no TLS) exposes tokens and initData on the wire. */
export function checkTls(facts: ConfigFacts): Finding[] {
  const { config } = facts;
  const found: Finding[] = [];
  if (config.publicUrl?.startsWith('http://') && !isLoopbackUrl(config.publicUrl)) {
    found.push(
      finding(
        'config',
        'config.tls_off_public_url',
        'tls_off_public_url',
        'high',
        'Public URL without TLS',
        'PUBLIC_URL uses http://: sign-in data and tokens cross the network in clear, and Telegram refuses http Mini Apps and webhooks. Serve HTTPS (TLS_CERT/TLS_KEY or a TLS proxy) and set an https PUBLIC_URL.',
      ),
    );
  }
  const listensPublicly = !LOOPBACK_HOSTS.has(config.host);
  if (config.isProduction && listensPublicly && !config.tls && config.trustProxy === false) {
    found.push(
      finding(
        'config',
        'config.plain_http_listener',
        'plain_http_listener',
        'medium',
        'Listening on a public address without TLS',
        `HOST=${config.host} serves plain HTTP and TRUST_PROXY is off, so no TLS proxy is declared in front. Put a TLS proxy in front (and set TRUST_PROXY) or set TLS_CERT/TLS_KEY.`,
      ),
    );
  }
  if (!config.isProduction && config.publicUrl?.startsWith('https://') && !isLoopbackUrl(config.publicUrl)) {
    found.push(
      finding(
        'config',
        'config.not_production',
        'not_production',
        'medium',
        'Public deployment not in production mode',
        `NODE_ENV=${config.nodeEnv} with a public PUBLIC_URL: development secrets are accepted and the docs UI is on. Set NODE_ENV=production.`,
      ),
    );
  }
  return found;
}

/** The API docs UI maps every route for an attacker; production keeps it off. */
export function checkDocs(facts: ConfigFacts): Finding[] {
  if (!facts.config.isProduction || !facts.config.docsEnabled) return [];
  return [
    finding(
      'config',
      'config.docs_exposed',
      'docs_exposed',
      'medium',
      'API docs UI exposed in production',
      'DOCS_ENABLED=true serves /docs to anyone. Set DOCS_ENABLED=false (the OpenAPI document stays available to tooling).',
    ),
  ];
}

/** Admin accounts without a second factor: one stolen Telegram session away from full control. */
export function checkAdminMfa(facts: ConfigFacts): Finding[] {
  const { admins, withoutMfa } = facts.adminMfa;
  if (admins === 0) return [];
  if (withoutMfa === undefined) {
    return [
      finding(
        'config',
        'config.admin_without_mfa',
        'admin_without_mfa',
        'high',
        `${admins} admin account(s) without MFA`,
        'Two-factor authentication is not available in this deployment, so no admin has a second factor.',
      ),
    ];
  }
  if (withoutMfa === 0) return [];
  return [
    finding(
      'config',
      'config.admin_without_mfa',
      'admin_without_mfa',
      'high',
      `${withoutMfa} admin account(s) without MFA`,
      `${withoutMfa} of ${admins} admins have no active second factor. Ask them to turn on two-factor authentication in the app.`,
    ),
  ];
}

/** The primary data-encryption key past its rotation period (key ring; README "Field encryption"). */
export function checkKeyRotation(facts: ConfigFacts): Finding[] {
  const primary = facts.ringKeys.find((key) => key.status === 'primary');
  if (!primary) return [];
  const since = primary.promotedAt ?? primary.createdAt;
  const ageDays = Math.floor((facts.now.getTime() - since.getTime()) / DAY_MS);
  if (ageDays <= facts.keyRotationDays) return [];
  return [
    finding(
      'config',
      'config.key_rotation_overdue',
      `key_rotation_overdue:${primary.id}`,
      'medium',
      'Encryption key overdue for rotation',
      `Ring key ${primary.id} has been primary for ${ageDays} days (rotation period ${facts.keyRotationDays} days). Rotate the key ring and run the re-encryption job.`,
    ),
  ];
}

/** BullMQ needs `noeviction`: any other policy lets Redis drop queued jobs and sessions under memory pressure. */
export function checkRedisPolicy(facts: ConfigFacts): Finding[] {
  const result = facts.redisPolicy;
  if ('error' in result) {
    return [
      finding(
        'config',
        'config.redis_policy_unknown',
        'redis_policy_unknown',
        'low',
        'Redis eviction policy could not be read',
        `Neither CONFIG GET nor INFO answered (${result.error}). Make sure Redis runs with maxmemory-policy noeviction.`,
      ),
    ];
  }
  if (result.policy === 'noeviction') return [];
  return [
    finding(
      'config',
      'config.redis_eviction',
      'redis_eviction',
      'high',
      `Redis evicts keys (${result.policy})`,
      `maxmemory-policy is ${result.policy}: under memory pressure Redis may drop queued jobs, sessions and replay guards. Set maxmemory-policy noeviction.`,
    ),
  ];
}

/** Every configuration check, in a stable order. */
export function checkConfiguration(facts: ConfigFacts): Finding[] {
  return [
    ...checkSecrets(facts),
    ...checkWebhook(facts),
    ...checkCors(facts),
    ...checkTls(facts),
    ...checkDocs(facts),
    ...checkAdminMfa(facts),
    ...checkKeyRotation(facts),
    ...checkRedisPolicy(facts),
  ];
}
