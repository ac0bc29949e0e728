/**
 * The process entry point: the only place that reads the environment, opens connections, listens and
 * installs signal handlers. `ROLES` chooses what runs here (api, bot, worker; all by default).
 */
import { ConfigError, parseConfig } from '#shared/config/index.ts';
import { resolveSecrets } from '#shared/config/secrets.ts';
import { createLogger } from '#shared/logger.ts';
import { startProcess } from './start.ts';

async function main(): Promise<void> {
  let config: ReturnType<typeof parseConfig>;
  let secrets: ReturnType<typeof resolveSecrets>;
  try {
    config = parseConfig(process.env, { cwd: process.cwd() });
    secrets = resolveSecrets(config);
  } catch (error) {
    if (error instanceof ConfigError) {
      // Plain text, before any connection: the operator reads this, not a log pipeline.
      process.stderr.write(`${error.message}\n\nSee .env.example for every variable and its format.\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  if (secrets.generated.length > 0) {
    logger.warn(
      `Using development secrets from ${config.dataDir}/secrets (${secrets.generated.join(', ')}). ` +
        'Set MASTER_KEY, JWT_SIGNING_KEYS and TELEGRAM_WEBHOOK_SECRET in production.',
    );
  }

  let stopping = false;
  let running: Awaited<ReturnType<typeof startProcess>> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal} received: finishing in-flight work (send it again to exit at once)`);
    const timer = setTimeout(() => {
      logger.error(`Shutdown took longer than ${config.shutdownTimeoutSeconds}s: exiting`);
      process.exit(1);
    }, config.shutdownTimeoutSeconds * 1_000);
    timer.unref();
    (running?.stop() ?? Promise.resolve()).then(
      () => {
        logger.info('Stopped cleanly');
        logger.flush?.();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'Shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'Unhandled promise rejection'));

  try {
    running = await startProcess({ config, secrets: secrets.secrets, logger });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? ` (last error: ${error.cause.message})` : '';
    logger.fatal(`Could not start: ${error instanceof Error ? error.message : String(error)}${cause}`);
    process.exit(1);
  }
  if (stopping) await running.stop();
}

await main();
