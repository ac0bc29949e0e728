/**
 * Every BullMQ queue in one place: its name, typed job payloads and default job options.
 * Payloads carry ids, never personal data.
 */
import { type ConnectionOptions, type DefaultJobOptions, Queue } from 'bullmq';
import { AUDIT_CHECKPOINT_INTERVAL_MS } from '#shared/audit/index.ts';
import type { PrivacyJob } from '#shared/privacy/service.ts';
import type { NotifyJob } from './notify.ts';

/** Jobs of the `system` queue: checks that the worker role is alive and can reach the database. */
export type SystemJob = { kind: 'ping'; requestedAt: string };
export type SystemJobResult = { ok: true; database: 'ok'; processedAt: string };
/** Jobs of the `notify` queue: tell a person something in Telegram (ids only; text is rendered by the worker). */
export type { NotifyJob } from './notify.ts';
export type NotifyJobResult = {
  sent: boolean;
  // not-allowed: an optional notice the person did not allow (objection, no consent, restriction).
  reason?: 'bot-disabled' | 'user-unknown' | 'blocked' | 'not-allowed';
};
/** Jobs of the `crypto` queue: re-encrypt everything under the primary ring key after a rotation. */
export type CryptoJob = { kind: 'reencrypt'; requestedAt: string; batchSize?: number };
export type CryptoJobResult = { moved: number; retirable: number[] };
/** Jobs of the `audit` queue: sign the audit trail's head, and prune entries past retention. */
export type AuditJob = { kind: 'checkpoint' } | { kind: 'prune' };
export type AuditJobResult =
  | { kind: 'checkpoint'; created: boolean; seq: number | null }
  | { kind: 'prune'; deleted: number; firstSeq: number | null };
/** Jobs of the `mfa` queue: complete an admin's MFA reset once its delay has passed (ids only). */
export type MfaJob = { kind: 'reset-due'; resetId: string } | { kind: 'reset-sweep' };
export type MfaJobResult = { completed: number };
/** The sweep that completes due resets whose delayed job was lost (fallback to the delayed job). */
export const MFA_RESET_SWEEP_INTERVAL_MS = 10 * 60 * 1000;
/**
 * Jobs of the `scanner` queue: one vulnerability scan. `requestedBy` (a user id) and `statusMessageId` (the
 * bot message the worker edits with progress) come with scans started from the bot; ids only.
 */
export type ScannerJob = {
  kind: 'scan';
  trigger: 'schedule' | 'bot' | 'api';
  requestedBy?: string;
  statusMessageId?: number;
};
export type ScannerJobResult = {
  scanId: string;
  counts: { critical: number; high: number; medium: number; low: number };
  newCount: number;
  resolvedCount: number;
  alerted: number;
};
/** How often the scheduled scan runs. */
export const SCAN_INTERVAL_MS = 24 * 3600 * 1000;
/** How often entries past retention are pruned. */
export const AUDIT_PRUNE_INTERVAL_MS = 24 * 3600 * 1000;
/** Jobs of the `privacy` queue: exports, erasures, retention and deadline alerts (ids only). */
export type { PrivacyJob };
export type PrivacyJobResult = Record<string, unknown>;
/** Privacy schedules: the erasure sweep (catches erasures whose delayed job was lost), retention, deadlines. */
export const PRIVACY_ERASURE_SWEEP_INTERVAL_MS = 15 * 60 * 1000;
export const PRIVACY_RETENTION_INTERVAL_MS = 24 * 3600 * 1000;
export const PRIVACY_DEADLINES_INTERVAL_MS = 24 * 3600 * 1000;

export const QUEUES = {
  system: {
    name: 'system',
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { count: 1_000, age: 24 * 3600 },
      removeOnFail: { count: 5_000, age: 7 * 24 * 3600 },
    } satisfies DefaultJobOptions,
  },
  crypto: {
    name: 'crypto',
    defaultJobOptions: {
      attempts: 10, // resumable: each attempt continues from the saved progress
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 1_000 },
    } satisfies DefaultJobOptions,
  },
  notify: {
    name: 'notify',
    defaultJobOptions: {
      attempts: 5, // Telegram hiccups and 429s are retried; a user who blocked the bot is not
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { count: 1_000, age: 24 * 3600 },
      removeOnFail: { count: 1_000, age: 7 * 24 * 3600 },
    } satisfies DefaultJobOptions,
  },
  audit: {
    name: 'audit',
    defaultJobOptions: {
      attempts: 1, // repeatable: the next run retries, and a broken chain must fail loudly, not be retried away
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 1_000 },
    } satisfies DefaultJobOptions,
  },
  mfa: {
    name: 'mfa',
    defaultJobOptions: {
      attempts: 5, // idempotent: completing a reset twice does nothing the second time
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: { count: 1_000, age: 7 * 24 * 3600 },
      removeOnFail: { count: 1_000 },
    } satisfies DefaultJobOptions,
  },
  scanner: {
    name: 'scanner',
    defaultJobOptions: {
      attempts: 2, // a scan is idempotent (findings merge by fingerprint); one retry covers a transient failure
      backoff: { type: 'exponential', delay: 30_000 },
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 100 },
    } satisfies DefaultJobOptions,
  },
  privacy: {
    name: 'privacy',
    defaultJobOptions: {
      attempts: 5, // exports and erasures are idempotent and resumable: a retry continues the work
      backoff: { type: 'exponential', delay: 10_000 },
      removeOnComplete: { count: 1_000, age: 30 * 24 * 3600 },
      removeOnFail: { count: 1_000 },
    } satisfies DefaultJobOptions,
  },
} as const;

export type QueueName = keyof typeof QUEUES;
export interface JobTypes {
  system: { data: SystemJob; result: SystemJobResult };
  crypto: { data: CryptoJob; result: CryptoJobResult };
  audit: { data: AuditJob; result: AuditJobResult };
  notify: { data: NotifyJob; result: NotifyJobResult };
  mfa: { data: MfaJob; result: MfaJobResult };
  scanner: { data: ScannerJob; result: ScannerJobResult };
  privacy: { data: PrivacyJob; result: PrivacyJobResult };
}

export type Queues = { [K in QueueName]: Queue<JobTypes[K]['data'], JobTypes[K]['result']> } & {
  close(): Promise<void>;
};

/** BullMQ key prefix under the deployment's Redis prefix, so several deployments can share one Redis. */
export function bullPrefix(redisPrefix: string): string {
  return `${redisPrefix}:bull`;
}

/** Opens producers for every queue. */
export function createQueues(connection: ConnectionOptions, redisPrefix: string): Queues {
  const open = <K extends QueueName>(name: K) => {
    const queue = new Queue<JobTypes[K]['data'], JobTypes[K]['result']>(QUEUES[name].name, {
      connection,
      prefix: bullPrefix(redisPrefix),
      defaultJobOptions: QUEUES[name].defaultJobOptions,
    });
    queue.on('error', () => {}); // surfaced through readiness, not crashes
    return queue;
  };
  const queues = {
    system: open('system'),
    crypto: open('crypto'),
    audit: open('audit'),
    notify: open('notify'),
    mfa: open('mfa'),
    scanner: open('scanner'),
    privacy: open('privacy'),
  };
  return {
    ...queues,
    async close() {
      await Promise.all(Object.values(queues).map((queue) => queue.close()));
    },
  };
}

/**
 * Registers the repeatable jobs (idempotent: every worker process may call it; BullMQ keeps one scheduler per id).
 * The audit checkpoint runs every AUDIT_CHECKPOINT_INTERVAL_MS, pruning daily.
 */
export async function scheduleRepeatableJobs(queues: Queues): Promise<void> {
  await queues.audit.upsertJobScheduler(
    'audit-checkpoint',
    { every: AUDIT_CHECKPOINT_INTERVAL_MS },
    { name: 'checkpoint', data: { kind: 'checkpoint' } },
  );
  await queues.audit.upsertJobScheduler(
    'audit-prune',
    { every: AUDIT_PRUNE_INTERVAL_MS },
    { name: 'prune', data: { kind: 'prune' } },
  );
  await queues.mfa.upsertJobScheduler(
    'mfa-reset-sweep',
    { every: MFA_RESET_SWEEP_INTERVAL_MS },
    { name: 'reset-sweep', data: { kind: 'reset-sweep' } },
  );
  await queues.scanner.upsertJobScheduler(
    'scanner-daily',
    { every: SCAN_INTERVAL_MS },
    { name: 'scan', data: { kind: 'scan', trigger: 'schedule' } },
  );
  await queues.privacy.upsertJobScheduler(
    'privacy-erasure-sweep',
    { every: PRIVACY_ERASURE_SWEEP_INTERVAL_MS },
    { name: 'erasure-sweep', data: { kind: 'erasure-sweep' } },
  );
  await queues.privacy.upsertJobScheduler(
    'privacy-retention',
    { every: PRIVACY_RETENTION_INTERVAL_MS },
    { name: 'retention', data: { kind: 'retention' } },
  );
  await queues.privacy.upsertJobScheduler(
    'privacy-deadlines',
    { every: PRIVACY_DEADLINES_INTERVAL_MS },
    { name: 'deadlines', data: { kind: 'deadlines' } },
  );
}
