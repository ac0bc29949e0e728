/**
 * The `crypto` queue: re-encryption after a key rotation. Batched, resumable (progress is saved after every
 * batch and a retried job continues from it) and idempotent (only values under old keys are touched).
 */
import type { Job } from 'bullmq';
import type { KeyRing } from '#shared/crypto/key-ring.ts';
import { INITIAL_PROGRESS, type ReencryptProgress, reencryptStep, retirableKeys } from '#shared/crypto/rotation.ts';
import type { UserKeys } from '#shared/crypto/user-keys.ts';
import type { Db } from '#shared/db/index.ts';
import { ringSealedColumns } from '#shared/privacy/data-map.ts';
import type { CryptoJob, CryptoJobResult } from '../queues.ts';

export const DEFAULT_REENCRYPT_BATCH = 500;

function isProgress(value: unknown): value is ReencryptProgress {
  return typeof value === 'object' && value !== null && 'phase' in value && 'moved' in value;
}

export function cryptoProcessor(deps: { db: Db; ring: KeyRing; userKeys: UserKeys }) {
  return async (job: Job<CryptoJob, CryptoJobResult>): Promise<CryptoJobResult> => {
    if (job.data.kind !== 'reencrypt') throw new Error(`Unknown crypto job ${String(job.data.kind)}`);
    // The rotation may have happened in another process (the API or the bot): re-encrypt to the current primary.
    await deps.ring.reload();
    const batchSize = job.data.batchSize ?? DEFAULT_REENCRYPT_BATCH;
    const columns = ringSealedColumns();
    let progress: ReencryptProgress = isProgress(job.progress) ? job.progress : INITIAL_PROGRESS;
    while (progress.phase !== 'done') {
      progress = await reencryptStep({ ...deps, columns }, progress, batchSize);
      await job.updateProgress(progress);
    }
    return { moved: progress.moved, retirable: await retirableKeys({ ...deps, columns }) };
  };
}
