/**
 * The worker role: one BullMQ Worker per queue in server/queues.ts. Closing waits for jobs in flight.
 */
import { type ConnectionOptions, type Job, Worker } from 'bullmq';
import type { AuditSigningKey } from '#shared/audit/index.ts';
import type { KeyRing } from '#shared/crypto/key-ring.ts';
import type { UserKeys } from '#shared/crypto/user-keys.ts';
import type { Database } from '#shared/db/index.ts';
import type { Logger } from '#shared/logger.ts';
import type { Metrics } from '#shared/metrics/index.ts';
import type { MfaService } from '#shared/mfa/index.ts';
import { bullPrefix, QUEUES } from '../queues.ts';
import { auditProcessor } from './audit.worker.ts';
import { cryptoProcessor } from './crypto.worker.ts';
import { mfaProcessor } from './mfa.worker.ts';
import { notifyProcessor } from './notify.worker.ts';
import { type PrivacyWorkerDeps, privacyProcessor } from './privacy.worker.ts';
import { type ScannerWorkerDeps, scannerProcessor } from './scanner.ts';
import { systemProcessor } from './system.worker.ts';

export interface WorkerDeps {
  database: Database;
  crypto: { ring: KeyRing; userKeys: UserKeys };
  /** Signs audit checkpoints (derived from the master key: `deriveAuditSigningKey`). */
  audit: { signingKey: AuditSigningKey };
  /** Where notices are sent (the bot's token and API root); absent → the bot is disabled, notices dropped. */
  telegram?:
    | {
        botToken: string | undefined;
        apiRoot: string;
        fetch?: typeof fetch;
        /** The throttler's global limit for this process's sends (BOT_MESSAGES_PER_SECOND). */
        messagesPerSecond?: number;
      }
    | undefined;
  /** Completes due MFA resets (the `mfa` queue); without it that queue has no worker in this process. */
  mfa?: Pick<MfaService, 'processDueResets'> | undefined;
  /** Exports, erasures, retention, deadline alerts (the `privacy` queue); without it that queue has no worker here. */
  privacy?: Omit<PrivacyWorkerDeps, 'db' | 'logger' | 'telegram' | 'userKeys'> | undefined;
  /** Runs vulnerability scans (the `scanner` queue); without it that queue has no worker in this process. */
  scanner?: Omit<ScannerWorkerDeps, 'db' | 'logger' | 'telegram'> | undefined;
  logger: Logger;
  /** A factory, because each BullMQ Worker needs its own blocking connection. */
  connection: () => ConnectionOptions;
  redisPrefix: string;
  concurrency?: number;
  /** Job latency per queue (shared/metrics); exported by this process's /metrics when it also serves the API. */
  metrics?: Pick<Metrics, 'jobDuration'> | undefined;
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
      ...(deps.telegram?.messagesPerSecond ? { outgoing: { globalPerSecond: deps.telegram.messagesPerSecond } } : {}),
    }),
    // Telegram allows about 30 messages/s in bulk: a small concurrency with its retries stays well under.
    { connection: deps.connection(), prefix: bullPrefix(deps.redisPrefix), concurrency: 5 },
  );
  const workers: Worker[] = [system, crypto, audit, notify];
  if (deps.mfa) {
    workers.push(
      new Worker(QUEUES.mfa.name, mfaProcessor({ mfa: deps.mfa }), {
        connection: deps.connection(),
        prefix: bullPrefix(deps.redisPrefix),
        concurrency: 1,
      }),
    );
  }
  if (deps.privacy) {
    workers.push(
      new Worker(
        QUEUES.privacy.name,
        privacyProcessor({
          ...deps.privacy,
          db: deps.database.db,
          userKeys: deps.crypto.userKeys,
          logger: log,
          telegram: deps.telegram,
        }),
        // Two at a time: an export streams with bounded memory; erasures of different people do not contend.
        { connection: deps.connection(), prefix: bullPrefix(deps.redisPrefix), concurrency: 2 },
      ),
    );
  }
  if (deps.scanner) {
    workers.push(
      new Worker(
        QUEUES.scanner.name,
        scannerProcessor({ ...deps.scanner, db: deps.database.db, logger: log, telegram: deps.telegram }),
        // One scan at a time per worker; completions are serialised across workers by an advisory lock.
        { connection: deps.connection(), prefix: bullPrefix(deps.redisPrefix), concurrency: 1 },
      ),
    );
  }
  for (const worker of workers) {
    // Job ids and queue names only: payloads may be sensitive even without personal data.
    worker.on('failed', (job, error) =>
      log.warn({ queue: worker.name, jobId: job?.id, err: error.message }, 'Job failed'),
    );
    worker.on('error', (error) => log.warn({ queue: worker.name, err: error.message }, 'Worker error'));
    if (deps.metrics) {
      const { jobDuration } = deps.metrics;
      const observe = (job: Job | undefined, status: 'completed' | 'failed') => {
        if (job?.processedOn && job.finishedOn) {
          jobDuration.observe({ queue: worker.name, status }, (job.finishedOn - job.processedOn) / 1000);
        }
      };
      worker.on('completed', (job) => observe(job, 'completed'));
      worker.on('failed', (job) => observe(job, 'failed'));
    }
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
