/**
 * Starts the roles this process runs (api, bot, worker) on shared connections, and stops them gracefully:
 * stop intake, finish in-flight requests, updates and jobs, close workers, close pools.
 */
import { join } from 'node:path';
import type { Bot } from 'grammy';
import type { Context } from '#bot/context.ts';
import { createConversationStateStore } from '#bot/conversations/state-store.ts';
import { createBot } from '#bot/create-bot.ts';
import { type RunningBot, startBot } from '#bot/run.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import type { Config, Secrets } from '#shared/config/index.ts';
import { connectDatabase, type Database, KEYSTORE_MIGRATIONS_DIR } from '#shared/db/index.ts';
import type { Logger } from '#shared/logger.ts';
import { connectRedis, type RedisHandle } from '#shared/redis/index.ts';
import { type App, buildApp } from './app.ts';
import { startHttpsRedirect } from './https-redirect.ts';
import { createQueues, type Queues, scheduleRepeatableJobs } from './queues.ts';
import { controllerInfo, createServices } from './services.ts';
import { type RunningWorkers, startWorkers } from './workers/index.ts';

export interface RunningProcess {
  app: App | undefined;
  /** The address the API listens on (when the api role runs). */
  address: string | undefined;
  stop(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  secrets: Secrets;
  logger: Logger;
  webappRoot?: string;
}

/**
 * Opens connections, applies migrations and starts each configured role.
 * @throws when a backing service stays unreachable past STARTUP_TIMEOUT_SECONDS, or the bot token is rejected.
 */
export async function startProcess(options: StartOptions): Promise<RunningProcess> {
  const { config, secrets, logger } = options;
  const roles = [...config.roles];
  const timeoutMs = config.startupTimeoutSeconds * 1_000;
  let shuttingDown = false;
  const cleanups: (() => Promise<void>)[] = [];
  const runCleanups = async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error) => logger.error({ err: error }, 'Shutdown step failed'));
    cleanups.length = 0;
  };

  try {
    logger.info(`Starting roles: ${roles.join(', ')} (NODE_ENV=${config.nodeEnv})`);
    if (!config.databaseUrl && roles.length < 3) {
      logger.warn('Embedded PGlite serves one process: to run roles in separate processes, set DATABASE_URL.');
    }
    const database: Database = await connectDatabase({
      databaseUrl: config.databaseUrl,
      pgliteDir: join(config.dataDir, 'pglite'),
      connectTimeoutMs: timeoutMs,
      onRetry: (attempt, error, delayMs) =>
        logger.warn(`PostgreSQL is not reachable (${(error as Error).message}); retry ${attempt} in ${delayMs} ms`),
    });
    cleanups.push(() => database.close());
    logger.info(
      database.kind === 'pglite'
        ? `Database: embedded PGlite in ${join(config.dataDir, 'pglite')}`
        : 'Database: PostgreSQL',
    );
    await database.migrate();

    // Per-user data keys live in a database of their own, so dumps of the data never carry them.
    const keystore: Database = await connectDatabase({
      databaseUrl: config.keystoreDatabaseUrl,
      pgliteDir: join(config.dataDir, 'keystore'),
      migrationsDir: KEYSTORE_MIGRATIONS_DIR,
      connectTimeoutMs: timeoutMs,
      onRetry: (attempt, error, delayMs) =>
        logger.warn(`The key store is not reachable (${(error as Error).message}); retry ${attempt} in ${delayMs} ms`),
    });
    cleanups.push(() => keystore.close());
    await keystore.migrate();

    const redis: RedisHandle = await connectRedis({
      url: config.redisUrl,
      isDefault: config.redisIsDefault,
      dataDir: config.dataDir,
      connectTimeoutMs: timeoutMs,
      log: logger,
      onRetry: (attempt, error, delayMs) =>
        logger.warn(`Redis is not reachable (${(error as Error).message}); retry ${attempt} in ${delayMs} ms`),
    });
    cleanups.push(() => redis.close());
    const queues: Queues = createQueues(redis.createBullConnection(), config.redisPrefix);
    cleanups.push(() => queues.close());
    const services = await createServices({
      config,
      secrets,
      database,
      keystore,
      redis,
      redisPrefix: config.redisPrefix,
      queues,
      logger,
    });
    cleanups.push(() => services.defense.close());
    cleanups.push(() => services.sessions.close());
    const { ring, userKeys } = services;

    let bot: Bot<Context> | undefined;
    if (config.bot.token) {
      // Who has no conversation in progress is remembered per process (no Redis read for most updates).
      const conversationState = createConversationStateStore({
        redis: redis.client,
        redisPrefix: config.redisPrefix,
        cache: { createSubscriber: () => redis.createBullConnection() },
      });
      cleanups.push(() => conversationState.close());
      bot = createBot(config.bot.token, {
        conversationState,
        db: database.db,
        logger,
        adminTelegramIds: config.adminTelegramIds,
        publicUrl: config.publicUrl,
        apiRoot: config.bot.apiRoot,
        apiKeys: services.apiKeys,
        sessions: services.sessions,
        audit: services.audit,
        redis: redis.client,
        redisPrefix: config.redisPrefix,
        maxUpdateAgeSeconds: config.bot.maxUpdateAgeSeconds,
        outgoing: { globalPerSecond: config.bot.messagesPerSecond },
        mfa: services.mfa,
        defense: {
          service: services.defense,
          redis: redis.client,
          redisPrefix: config.redisPrefix,
          metrics: services.metrics,
        },
        scanner: services.scanner,
        privacy: services.privacy,
        antispam: config.antispam,
        // /admin: role notices through the notify queue; key rotation queues the re-encryption job.
        admin: {
          notify: services.notify,
          keys: {
            ring: services.ring,
            reencrypt: async () => {
              await queues.crypto.add('reencrypt', { kind: 'reencrypt', requestedAt: new Date().toISOString() });
            },
          },
        },
      });
    } else if (config.roles.has('bot') || config.roles.has('api')) {
      logger.info('Bot disabled: BOT_TOKEN is unset (get one from @BotFather and set BOT_TOKEN to enable it)');
    }

    let app: App | undefined;
    let address: string | undefined;
    if (config.roles.has('api')) {
      app = await buildApp({
        config,
        secrets,
        database,
        keystore,
        services,
        redis,
        logger,
        redisPrefix: config.redisPrefix,
        ...(bot ? { bot } : {}),
        ...(options.webappRoot ? { webappRoot: options.webappRoot } : {}),
        isShuttingDown: () => shuttingDown,
      });
      address = await app.listen({ port: config.port, host: config.host });
      const api = app;
      // app.close() stops accepting connections and waits for requests in flight.
      cleanups.push(() => api.close());
      logger.info(`API listening on ${address} (Mini App at ${address}/app/)`);
      const redirectPort = config.tls?.redirectPort;
      if (redirectPort !== undefined) {
        const redirect = await startHttpsRedirect({
          host: config.host,
          port: redirectPort,
          httpsPort: config.port,
          publicUrl: config.publicUrl,
        });
        cleanups.push(() => redirect.close());
        logger.info(`Redirecting plain HTTP on port ${redirectPort} to HTTPS`);
      }
    }

    let workers: RunningWorkers | undefined;
    if (config.roles.has('worker')) {
      workers = await startWorkers({
        database,
        crypto: { ring, userKeys },
        audit: { signingKey: deriveAuditSigningKey(secrets.masterKey) },
        telegram: {
          botToken: config.bot.token,
          apiRoot: config.bot.apiRoot,
          messagesPerSecond: config.bot.messagesPerSecond,
        },
        mfa: services.mfa,
        privacy: {
          controller: controllerInfo(config),
          dataDir: config.dataDir,
          sessions: services.sessions,
          audit: services.audit,
          metrics: services.metrics,
          retentionDryRun: config.privacy.retentionDryRun,
        },
        scanner: {
          config,
          secrets,
          redis: redis.client,
          notify: services.notify,
          audit: services.audit,
        },
        logger,
        connection: () => redis.createBullConnection(),
        redisPrefix: config.redisPrefix,
        metrics: services.metrics,
      });
      const running = workers;
      cleanups.push(() => running.close());
      await scheduleRepeatableJobs(queues);
    }

    let runningBot: RunningBot | undefined;
    if (config.roles.has('bot') && bot) {
      runningBot = await startBot(bot, {
        mode: config.bot.mode,
        publicUrl: config.publicUrl,
        webhookSecret: secrets.webhookSecret,
        logger,
        startupTimeoutMs: timeoutMs,
      });
      const running = runningBot;
      cleanups.push(() => running.stop());
    }

    return {
      app,
      address,
      async stop() {
        shuttingDown = true;
        // Reverse start order: bot intake, workers, API, queues, Redis, database.
        await runCleanups();
      },
    };
  } catch (error) {
    shuttingDown = true;
    await runCleanups();
    throw error;
  }
}
