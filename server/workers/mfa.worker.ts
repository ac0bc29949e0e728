/**
 * The `mfa` queue: completes admin-requested MFA resets once their delay has passed. A delayed job per reset
 * fires at its due time; a periodic sweep catches any whose job was lost. Both only call the idempotent
 * `processDueResets` (a cancelled reset is simply no longer pending).
 */
import type { Job } from 'bullmq';
import type { MfaService } from '#shared/mfa/index.ts';
import type { MfaJob, MfaJobResult } from '../queues.ts';

export function mfaProcessor(deps: { mfa: Pick<MfaService, 'processDueResets'> }) {
  return async (job: Job<MfaJob, MfaJobResult>): Promise<MfaJobResult> => {
    switch (job.data.kind) {
      case 'reset-due':
      case 'reset-sweep':
        return { completed: await deps.mfa.processDueResets() };
      default:
        throw new Error(`Unknown mfa job ${String((job.data as { kind: unknown }).kind)}`);
    }
  };
}
