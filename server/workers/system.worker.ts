/** The `system` queue's processor: idempotent, calls only shared/. */
import type { Job } from 'bullmq';
import type { Database } from '#shared/db/index.ts';
import type { SystemJob, SystemJobResult } from '../queues.ts';

export function systemProcessor(deps: { database: Database }) {
  return async (job: Job<SystemJob, SystemJobResult>): Promise<SystemJobResult> => {
    switch (job.data.kind) {
      case 'ping':
        await deps.database.ping();
        return { ok: true, database: 'ok', processedAt: new Date().toISOString() };
      default:
        throw new Error(`Unknown system job ${String((job.data as { kind: unknown }).kind)}`);
    }
  };
}
