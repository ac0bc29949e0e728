/**
 * The worker role runs real BullMQ workers on real Redis: jobs enqueued by the API side are processed,
 * and closing waits for jobs in flight.
 */
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullPrefix, createQueues, type Queues } from '#server/queues.ts';
import { startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { createUserKeys } from '#shared/crypto/user-keys.ts';
import { createLogger } from '#shared/logger.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let database: TestDatabase;
let redis: TestRedis;
let queues: Queues;
beforeAll(async () => {
  database = await createTestDatabase();
  redis = await createTestRedis();
  queues = createQueues(redis.createBullConnection(), redis.prefix);
});
afterAll(async () => {
  await queues.close();
  await redis.close();
  await database.close();
});

describe('workers', () => {
  it('process a system ping job against the database and close cleanly', async () => {
    const keystore = await createTestKeystore();
    const ring = await loadKeyRing(database.db, randomBytesOf(32));
    const workers = await startWorkers({
      database,
      crypto: { ring, userKeys: createUserKeys({ keystore: keystore.db, ring }) },
      audit: { signingKey: deriveAuditSigningKey(randomBytesOf(32)) },
      logger: createLogger({ level: 'silent' }),
      connection: () => redis.createBullConnection(),
      redisPrefix: redis.prefix,
    });
    const events = new QueueEvents('system', {
      connection: redis.createBullConnection(),
      prefix: bullPrefix(redis.prefix),
    });
    await events.waitUntilReady();
    const job = await queues.system.add('ping', { kind: 'ping', requestedAt: new Date().toISOString() });
    const result = await job.waitUntilFinished(events, 10_000);
    expect(result).toMatchObject({ ok: true, database: 'ok' });
    await events.close();
    await workers.close();
    expect(await workers.workers[0]?.isRunning()).toBe(false);
    await keystore.close();
  });
});
