/**
 * The domain services every role shares, built once from the connections: the key ring and per-user keys,
 * the audit trail, token signing, sessions, Telegram sign-in and notices. `server/start.ts` and the test
 * harness both build them here, so tests run the same composition as production.
 */
import type { Bot } from 'grammy';
import type { Context } from '#bot/context.ts';
import { type ApiKeyService, createApiKeyService } from '#shared/api-keys/index.ts';
import { type AuditLog, createAuditLog } from '#shared/audit/index.ts';
import type { Config, Secrets } from '#shared/config/index.ts';
import { deriveKey } from '#shared/crypto/hash.ts';
import { type KeyRing, loadKeyRing } from '#shared/crypto/key-ring.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import type { Database } from '#shared/db/index.ts';
import { createDefense, type Defense, withDetection } from '#shared/defense/index.ts';
import type { SecondFactor } from '#shared/identity/second-factor.ts';
import { createInitDataVerifier, type InitDataResult } from '#shared/identity/telegram-login.ts';
import { backfillTelegramIds, bindUserIdentity, deriveTelegramIdIndexKey } from '#shared/identity/users.ts';
import type { Logger } from '#shared/logger.ts';
import { createMetrics, type Metrics } from '#shared/metrics/index.ts';
import { BACKUP_CODE_PEPPER_PURPOSE, createMfaService, type MfaService } from '#shared/mfa/index.ts';
import { createOAuth, type OAuth } from '#shared/oauth/index.ts';
import { type ControllerInfo, createPrivacyService, type PrivacyService } from '#shared/privacy/index.ts';
import type { RedisHandle } from '#shared/redis/index.ts';
import type { ScannerService } from '#shared/scanner/index.ts';
import { createTokenSigner, type TokenSigner } from '#shared/tokens/jwt.ts';
import { createSessionStore, type SessionStore } from '#shared/tokens/sessions.ts';
import type { Notify } from './notify.ts';
import type { Queues } from './queues.ts';
import { createScannerService } from './workers/scanner.ts';

/** The `aud` of our access tokens. */
export const TOKEN_AUDIENCE = 'tsp-api';

export interface Services {
  ring: KeyRing;
  userKeys: UserKeys;
  audit: AuditLog;
  signer: TokenSigner;
  sessions: SessionStore;
  /** Undefined when neither BOT_TOKEN nor TELEGRAM_THIRD_PARTY_BOT_ID is set (sign-in answers 503). */
  verifyInitData: ((initData: string) => Promise<InitDataResult>) | undefined;
  secondFactor: SecondFactor;
  apiKeys: ApiKeyService;
  notify: Notify;
  /** This instance's Prometheus registry and named metrics (shared/metrics). */
  metrics: Metrics;
  /** Intrusion detection and decisions (shared/defense); `check` is what the edges enforce with. */
  defense: Defense;
  /** Two-factor codes (TOTP, backup codes, sign-in challenges, admin resets); also the real `secondFactor`. */
  mfa: MfaService;
  /** Linked Google/GitHub/Discord accounts and sign-in with them (shared/oauth). */
  oauth: OAuth;
  /** Vulnerability scans: the latest report, and scans queued on the `scanner` queue (shared/scanner). */
  scanner: ScannerService;
  /** Consent, data subject requests (jobs on the `privacy` queue), the generated privacy policy (shared/privacy). */
  privacy: PrivacyService;
}

export interface ServiceDeps {
  config: Config;
  secrets: Secrets;
  database: Database;
  keystore: Database;
  redis: RedisHandle;
  redisPrefix: string;
  queues: Queues;
  logger: Logger;
  /** Overrides for tests (a test factor through deps, as STYLE.md 10 allows). */
  secondFactor?: SecondFactor;
  bot?: Bot<Context>;
}

/**
 * Builds the shared services.
 * @throws MasterKeyMismatchError when MASTER_KEY cannot open the stored key ring.
 */
export async function createServices(deps: ServiceDeps): Promise<Services> {
  const { config, secrets } = deps;
  // Refuses a MASTER_KEY that cannot open the stored keys, rather than failing on every request later.
  const ring = await loadKeyRing(deps.database.db, secrets.masterKey);
  const metrics = createMetrics();
  const userKeys = createUserKeys({ keystore: deps.keystore.db, ring });
  // Telegram ids are stored only as a blind index and sealed with each person's key (shared/identity/users.ts):
  // the users functions find these keys through the database handle. Rows from before that are converted first.
  bindUserIdentity(deps.database.db, {
    indexKey: deriveTelegramIdIndexKey(secrets.masterKey),
    cipher: userKeys,
  });
  const backfill = await backfillTelegramIds(deps.database.db);
  if (backfill.converted > 0 || backfill.skipped > 0) {
    deps.logger.info(backfill, 'Telegram ids moved to the blind index and sealed');
  }
  const auditTrail = createAuditLog({ db: deps.database.db, cipher: userKeys, logger: deps.logger });
  // Intrusion detection: decisions in PostgreSQL, mirrored in Redis, cached in this process over pub/sub.
  const defense = createDefense({
    db: deps.database.db,
    redis: deps.redis.client,
    createSubscriber: () => deps.redis.createBullConnection(),
    prefix: deps.redisPrefix,
    masterKey: secrets.masterKey,
    scenarios: config.defense.scenarios,
    allowlist: config.defense.allowlist,
    metrics,
    logger: deps.logger,
  });
  // Every recorded event is counted and offered to the scenarios (with the raw address, in memory only).
  const audit = withDetection(auditTrail, defense, metrics);
  const signer = await createTokenSigner({
    signingKeys: secrets.jwtSigningKeys,
    issuer: config.publicUrl ?? 'tsp',
    audience: TOKEN_AUDIENCE,
  });
  const sessions = createSessionStore({
    redis: deps.redis.client,
    prefix: deps.redisPrefix,
    cache: { createSubscriber: () => deps.redis.createBullConnection() },
  });
  const canVerify = Boolean(config.bot.token) || config.telegramLogin.thirdPartyBotId !== undefined;
  const verifyInitData = canVerify
    ? createInitDataVerifier({
        botToken: config.bot.token,
        thirdPartyBotId: config.telegramLogin.thirdPartyBotId,
        maxAgeSeconds: config.telegramLogin.maxAgeSeconds,
        redis: deps.redis.client,
        prefix: deps.redisPrefix,
      })
    : undefined;
  const notify: Notify = async (job) => {
    await deps.queues.notify.add(job.kind, job);
  };
  defense.connect({ audit: auditTrail, notify });
  await defense.start();
  const mfa = createMfaService({
    db: deps.database.db,
    redis: deps.redis.client,
    prefix: deps.redisPrefix,
    userKeys,
    audit,
    notify,
    // Backup codes are HMACs under a pepper derived from MASTER_KEY: a database leak alone cannot test guesses.
    pepper: deriveKey(secrets.masterKey, BACKUP_CODE_PEPPER_PURPOSE),
    // A factor lockout decided by intrusion detection stops API code checks (local cache, no I/O).
    isLockedByDecision: (userId) => defense.isFactorLocked(userId),
    // The reset completes in a delayed job on the `mfa` queue (the worker's periodic sweep is the fallback).
    scheduleReset: async (resetId, effectiveAt) => {
      await deps.queues.mfa.add(
        'reset-due',
        { kind: 'reset-due', resetId },
        { delay: Math.max(0, effectiveAt.getTime() - Date.now()), jobId: `mfa-reset-${resetId}` },
      );
    },
  });
  return {
    ring,
    userKeys,
    audit,
    signer,
    sessions,
    verifyInitData,
    secondFactor: deps.secondFactor ?? mfa,
    apiKeys: createApiKeyService({
      db: deps.database.db,
      redis: deps.redis.client,
      prefix: deps.redisPrefix,
      audit,
      notify,
      logger: deps.logger,
    }),
    notify,
    metrics,
    mfa,
    defense,
    oauth: createOAuth({
      config,
      masterKey: secrets.masterKey,
      db: deps.database.db,
      cipher: userKeys,
      redis: deps.redis.client,
      prefix: deps.redisPrefix,
    }),
    scanner: createScannerService({ db: deps.database.db, queue: deps.queues.scanner }),
    privacy: createPrivacyService({
      db: deps.database.db,
      signDocument: (payload, typ) => signer.signDocument(payload, typ),
      controller: controllerInfo(config),
      audit,
      enqueue: async (job, options) => {
        await deps.queues.privacy.add(job.kind, job, {
          ...(options?.delayMs ? { delay: options.delayMs } : {}),
          ...(options?.jobId ? { jobId: options.jobId } : {}),
        });
      },
      notify,
      erasureGraceDays: config.privacy.erasureGraceDays,
      publicUrl: config.publicUrl,
    }),
  };
}

/** The controller named in the privacy policy and consent receipts (PRIVACY_* configuration). */
export function controllerInfo(config: Config): ControllerInfo {
  return {
    name: config.privacy.controllerName,
    contact: config.privacy.controllerContact,
    dpo: config.privacy.dpoContact,
    jurisdiction: config.privacy.jurisdiction,
    policyUrl: config.publicUrl ? `${config.publicUrl}/privacy` : undefined,
  };
}
