/**
 * Without checkpoints signed regularly, a chain rewritten by someone with database access cannot be told from
 * the real one: the worker role signs the audit trail's head on a repeatable BullMQ job, and fails loudly
 * instead of signing over a chain that was already tampered with.
 */
import { QueueEvents } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditJobResult, bullPrefix, createQueues, type Queues, scheduleRepeatableJobs } from '#server/queues.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import {
  AUDIT_CHECKPOINT_INTERVAL_MS,
  createAuditLog,
  deriveAuditSigningKey,
  verifyAuditLog,
} from '#shared/audit/index.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { createUserKeys } from '#shared/crypto/user-keys.ts';
import { auditCheckpoints } from '#shared/db/schema.ts';
import { createLogger } from '#shared/logger.ts';
import { asSuperuser, recordMany } from '#test/helpers/audit.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

const masterKey = randomBytesOf(32);
const signingKey = deriveAuditSigningKey(masterKey);
let database: TestDatabase;
let keystore: TestDatabase;
let redis: TestRedis;
let queues: Queues;
let workers: RunningWorkers;
let events: QueueEvents;

beforeAll(async () => {
  [database, keystore, redis] = await Promise.all([createTestDatabase(), createTestKeystore(), createTestRedis()]);
  queues = createQueues(redis.createBullConnection(), redis.prefix);
  const ring = await loadKeyRing(database.db, masterKey);
  workers = await startWorkers({
    database,
    crypto: { ring, userKeys: createUserKeys({ keystore: keystore.db, ring }) },
    audit: { signingKey },
    logger: createLogger({ level: 'silent' }),
    connection: () => redis.createBullConnection(),
    redisPrefix: redis.prefix,
  });
  events = new QueueEvents('audit', { connection: redis.createBullConnection(), prefix: bullPrefix(redis.prefix) });
  await events.waitUntilReady();
});
afterAll(async () => {
  await events.close();
  await workers.close();
  await queues.audit.obliterate({ force: true });
  await queues.close();
  await redis.close();
  await Promise.all([database.close(), keystore.close()]);
});

describe('the audit worker', () => {
  it('is scheduled to checkpoint every five minutes and to prune daily (one scheduler per id)', async () => {
    await scheduleRepeatableJobs(queues);
    await scheduleRepeatableJobs(queues); // every worker process calls it at start
    const schedulers = await queues.audit.getJobSchedulers();
    expect(schedulers.map((scheduler) => [scheduler.key, scheduler.every]).sort()).toEqual([
      ['audit-checkpoint', AUDIT_CHECKPOINT_INTERVAL_MS],
      ['audit-prune', 24 * 3600 * 1000],
    ]);
    expect(AUDIT_CHECKPOINT_INTERVAL_MS).toBe(5 * 60 * 1000);
  });

  it('signs the head with the key derived from the master key', async () => {
    await recordMany(createAuditLog({ db: database.db }), 5);
    const job = await queues.audit.add('checkpoint', { kind: 'checkpoint' });
    const result: AuditJobResult = await job.waitUntilFinished(events, 15_000);
    expect(result).toMatchObject({ kind: 'checkpoint', seq: 5 });
    const [checkpoint] = await database.db.select().from(auditCheckpoints);
    expect(checkpoint).toMatchObject({ seq: 5, keyId: signingKey.keyId });
    expect(await verifyAuditLog(database.db, { publicKeys: [signingKey.publicKey] })).toMatchObject({
      ok: true,
      checkpoints: { checked: 1 },
    });
  });

  it('fails the job, signing nothing, when the chain was tampered with', async () => {
    const audit = createAuditLog({ db: database.db });
    await recordMany(audit, 3);
    await asSuperuser(database.db, [sql`update audit_log set result = 'failure' where seq = 7`]);
    const job = await queues.audit.add('checkpoint', { kind: 'checkpoint' });
    await expect(job.waitUntilFinished(events, 15_000)).rejects.toThrow(
      /Audit trail broken at seq 7 \(hash_mismatch\)/,
    );
    expect(await database.db.$count(auditCheckpoints)).toBe(1);
  });
});
