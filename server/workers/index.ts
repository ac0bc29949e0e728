/**
 * The worker role: one BullMQ Worker per queue in server/queues.ts. Closing waits for jobs in flight.
 */
import { type ConnectionOptions, Worker } from 'bullmq';
import type { AuditSigningKey } from '#shared/audit/index.ts';
import type { KeyRing } from '#shared/crypto/key-ring.ts';
import type { UserKeys } from '#shared/crypto/user-keys.ts';
import type { Database } from '#shared/db/index.ts';
import type { Logger } from '#shared/logger.ts';
import { bullPrefix, QUEUES } from '../queues.ts';
import { auditProcessor } from './audit.worker.ts';
import { cryptoProcessor } from './crypto.worker.ts';
import { notifyProcessor } from './notify.worker.ts';
import { systemProcessor } from './system.worker.ts';

export interface WorkerDeps {
  database: Database;
  crypto: { ring: KeyRing; userKeys: UserKeys };
  /** Signs audit checkpoints (derived from the master key: `deriveAuditSigningKey`). */
  audit: { signingKey: AuditSigningKey };
  /** Where notices are sent (the bot's token and API root); absent → the bot is disabled, notices dropped. */
  telegram?: { botToken: string | undefined; apiRoot: string; fetch?: typeof fetch } | undefined;
  logger: Logger;
  /** A factory, because each BullMQ Worker needs its own blocking connection. */
  connection: () => ConnectionOptions;
  redisPrefix: string;
  concurrency?: number;
}

export interface RunningWorkers {
  workers: Worker[];
  close(): Promise<void>;
}

export async function startWorkers(deps: WorkerDeps): Promise<RunningWorkers> {
  const log = deps.logger.child({ component: 'worker' });
  const system = new Worker(QUEUES.system.name, systemProcessor({ database: deps.database }), {
    connection: deps.connection(),
    prefix: bullPrefix(deps.redisPrefix),
    concurrency: deps.concurrency ?? 4,
  });
  const crypto = new Worker(
    QUEUES.crypto.name,
    cryptoProcessor({ db: deps.database.db, ring: deps.crypto.ring, userKeys: deps.crypto.userKeys }),
    { connection: deps.connection(), prefix: bullPrefix(deps.redisPrefix), concurrency: 1 },
  );
  const audit = new Worker(
    QUEUES.audit.name,
    auditProcessor({ database: deps.database, signingKey: deps.audit.signingKey, logger: log }),
    // One at a time: checkpoints are cheap, and two at once would only race for the same head.
    { connection: deps.connection(), prefix: bullPrefix(deps.redisPrefix), concurrency: 1 },
  );
  const notify = new Worker(
    QUEUES.notify.name,
    notifyProcessor({
      db: deps.database.db,
      botToken: deps.telegram?.botToken,
      apiRoot: deps.telegram?.apiRoot ?? 'https://api.telegram.org',
      ...(deps.telegram?.fetch ? { fetch: deps.telegram.fetch } : {}),
    }),
    // Telegram allows about 30 messages/s in bulk: a small concurrency with its retries stays well under.
    { connection: deps.connection(), prefix: bullPrefix(deps.redisPrefix), concurrency: 5 },
  );
  const workers = [system, crypto, audit, notify];
  for (const worker of workers) {
    // Job ids and queue names only: payloads may be sensitive even without personal data.
    worker.on('failed', (job, error) =>
      log.warn({ queue: worker.name, jobId: job?.id, err: error.message }, 'Job failed'),
    );
    worker.on('error', (error) => log.warn({ queue: worker.name, err: error.message }, 'Worker error'));
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  log.info(`Workers running: ${workers.map((worker) => worker.name).join(', ')}`);
  return {
    workers,
    async close() {
      // close() stops taking jobs and waits for the ones in progress.
      await Promise.all(workers.map((worker) => worker.close()));
    },
  };
}
