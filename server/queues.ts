/**
 * Every BullMQ queue in one place: its name, typed job payloads and default job options.
 * Payloads carry ids, never personal data.
 */
import { type ConnectionOptions, type DefaultJobOptions, Queue } from 'bullmq';

/** Jobs of the `system` queue: checks that the worker role is alive and can reach the database. */
export type SystemJob = { kind: 'ping'; requestedAt: string };
export type SystemJobResult = { ok: true; database: 'ok'; processedAt: string };

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
} as const;

export type QueueName = keyof typeof QUEUES;
export interface JobTypes {
  system: { data: SystemJob; result: SystemJobResult };
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
  const system = new Queue<SystemJob, SystemJobResult>(QUEUES.system.name, {
    connection,
    prefix: bullPrefix(redisPrefix),
    defaultJobOptions: QUEUES.system.defaultJobOptions,
  });
  system.on('error', () => {}); // connection errors surface through readiness, not as crashes
  return {
    system,
    async close() {
      await system.close();
    },
  };
}
