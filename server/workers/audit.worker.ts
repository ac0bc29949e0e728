/**
 * The `audit` queue's processor: signs checkpoints of the audit trail's head and prunes entries past retention.
 * Idempotent (an unchanged head is not signed twice); calls only shared/.
 */
import type { Job } from 'bullmq';
import { type AuditSigningKey, createAuditCheckpoint, createAuditLog, pruneAuditLog } from '#shared/audit/index.ts';
import type { Database } from '#shared/db/index.ts';
import type { Logger } from '#shared/logger.ts';
import type { AuditJob, AuditJobResult } from '../queues.ts';

export function auditProcessor(deps: { database: Database; signingKey: AuditSigningKey; logger: Logger }) {
  const { db } = deps.database;
  const audit = createAuditLog({ db, logger: deps.logger });
  return async (job: Job<AuditJob, AuditJobResult>): Promise<AuditJobResult> => {
    switch (job.data.kind) {
      case 'checkpoint': {
        const result = await createAuditCheckpoint(db, { signingKey: deps.signingKey });
        if (result.firstBroken) {
          const { seq, reason } = result.firstBroken;
          // Nothing is signed over a tampered chain; operators are told loudly, every interval, until fixed.
          deps.logger.error({ seq, reason }, 'Audit trail is broken: checkpoint not signed (run npm run audit:verify)');
          throw new Error(`Audit trail broken at seq ${seq} (${reason})`);
        }
        return { kind: 'checkpoint', created: result.created, seq: result.checkpoint?.seq ?? null };
      }
      case 'prune': {
        const result = await pruneAuditLog(db, { audit });
        return { kind: 'prune', deleted: result.deleted, firstSeq: result.firstSeq };
      }
      default:
        throw new Error(`Unknown audit job ${String((job.data as { kind: unknown }).kind)}`);
    }
  };
}
