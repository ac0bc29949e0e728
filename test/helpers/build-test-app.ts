/**
 * buildTestApp(): the real API (`buildApp`) on a real database (PGlite or the PostgreSQL server) and real
 * Redis, for `app.inject()`. Call `close()` in afterAll.
 */
import type { Bot } from 'grammy';
import type { Context } from '#bot/context.ts';
import { type App, type AppDeps, buildApp } from '#server/app.ts';
import { createQueues, type Queues } from '#server/queues.ts';
import { createServices, type Services } from '#server/services.ts';
import type { Config, Secrets } from '#shared/config/index.ts';
import type { KeyRing } from '#shared/crypto/key-ring.ts';
import type { UserKeys } from '#shared/crypto/user-keys.ts';
import type { SecondFactor } from '#shared/identity/second-factor.ts';
import { createLogger, type Logger } from '#shared/logger.ts';
import type { RedisHandle } from '#shared/redis/index.ts';
import { createTestConfig } from './test-config.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from './test-db.ts';
import { createTestRedis } from './test-redis.ts';

export interface TestApp {
  app: App;
  config: Config;
  secrets: Secrets;
  database: TestDatabase;
  keystore: TestDatabase;
  ring: KeyRing;
  userKeys: UserKeys;
  services: Services;
  redisPrefix: string;
  redis: RedisHandle;
  queues: Queues;
  logger: Logger;
  close(): Promise<void>;
}

export interface BuildTestAppOptions {
  env?: Record<string, string>;
  /** Reuse a database across several apps in one file. */
  database?: TestDatabase;
  /** A Redis other than the default test server (e.g. one the test starts and kills). */
  redis?: RedisHandle;
  bot?: Bot<Context>;
  /** Reuse another app's secrets (needed when reusing its database: the key ring is sealed by its master key). */
  secrets?: Secrets;
  /** A second factor for step-up tests (a real implementation of the interface, swapped in through deps). */
  secondFactor?: SecondFactor;
  webappRoot?: string;
  isShuttingDown?: () => boolean;
  /** Share another app's Redis key prefix (several app instances of one deployment: pub/sub, counters). */
  redisPrefix?: string;
}

export async function buildTestApp(options: BuildTestAppOptions = {}): Promise<TestApp> {
  const generated = createTestConfig(options.env);
  const config = generated.config;
  const secrets = options.secrets ?? generated.secrets;
  const database = options.database ?? (await createTestDatabase());
  const keystore = await createTestKeystore();
  const testRedis = options.redis ? undefined : await createTestRedis();
  const redis = options.redis ?? (testRedis as RedisHandle);
  const redisPrefix = options.redisPrefix ?? testRedis?.prefix ?? `test-${Date.now().toString(36)}`;
  const logger = createLogger({ level: 'silent' });
  const queues = createQueues(redis.createBullConnection(), redisPrefix);
  const services = await createServices({
    config,
    secrets,
    database,
    keystore,
    redis,
    redisPrefix,
    queues,
    logger,
    ...(options.secondFactor ? { secondFactor: options.secondFactor } : {}),
  });
  const { ring, userKeys } = services;
  const deps: AppDeps = {
    config,
    secrets,
    database,
    keystore,
    services,
    redis,
    logger,
    redisPrefix,
    queues,
    ...(options.bot ? { bot: options.bot } : {}),
    ...(options.webappRoot ? { webappRoot: options.webappRoot } : {}),
    ...(options.isShuttingDown ? { isShuttingDown: options.isShuttingDown } : {}),
  };
  const app = await buildApp(deps);
  return {
    app,
    config,
    secrets,
    database,
    keystore,
    ring,
    userKeys,
    services,
    redisPrefix,
    redis,
    queues,
    logger,
    async close() {
      await app.close();
      await services.defense.close();
      await services.sessions.close();
      await queues.close();
      if (testRedis) await testRedis.close();
      await keystore.close();
      if (!options.database) await database.close();
    },
  };
}
