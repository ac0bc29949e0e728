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
import { type KeyRing, loadKeyRing } from '#shared/crypto/key-ring.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import type { Database } from '#shared/db/index.ts';
import { NO_SECOND_FACTOR, type SecondFactor } from '#shared/identity/second-factor.ts';
import { createInitDataVerifier, type InitDataResult } from '#shared/identity/telegram-login.ts';
import type { Logger } from '#shared/logger.ts';
import type { RedisHandle } from '#shared/redis/index.ts';
import { createTokenSigner, type TokenSigner } from '#shared/tokens/jwt.ts';
import { createSessionStore, type SessionStore } from '#shared/tokens/sessions.ts';
import type { Notify } from './notify.ts';
import type { Queues } from './queues.ts';

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
  const userKeys = createUserKeys({ keystore: deps.keystore.db, ring });
  const audit = createAuditLog({ db: deps.database.db, cipher: userKeys, logger: deps.logger });
  const signer = await createTokenSigner({
    signingKeys: secrets.jwtSigningKeys,
    issuer: config.publicUrl ?? 'tsp',
    audience: TOKEN_AUDIENCE,
  });
  const sessions = createSessionStore({ redis: deps.redis.client, prefix: deps.redisPrefix });
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
  return {
    ring,
    userKeys,
    audit,
    signer,
    sessions,
    verifyInitData,
    secondFactor: deps.secondFactor ?? NO_SECOND_FACTOR,
    apiKeys: createApiKeyService({
      db: deps.database.db,
      redis: deps.redis.client,
      prefix: deps.redisPrefix,
      audit,
      notify,
      logger: deps.logger,
    }),
    notify,
  };
}
