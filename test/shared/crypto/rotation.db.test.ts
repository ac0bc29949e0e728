/**
 * Key rotation end to end: add a key, promote it, re-encrypt in the background with the real BullMQ worker
 * (batched, resumable, idempotent), then retire the old key, with every old ciphertext readable throughout.
 */
import { QueueEvents } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullPrefix, createQueues, type Queues } from '#server/queues.ts';
import { startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { fieldAad } from '#shared/crypto/aead.ts';
import type { FieldContext } from '#shared/crypto/field-cipher.ts';
import { type KeyRing, loadKeyRing } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import {
  INITIAL_PROGRESS,
  type ReencryptProgress,
  type RingSealedColumn,
  reencryptStep,
  retirableKeys,
} from '#shared/crypto/rotation.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import { createLogger } from '#shared/logger.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

const USERS = 40;
const master = randomBytesOf(32);
const userId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const ctx = (n: number): FieldContext => ({ table: 'profiles', column: 'display_name', rowId: String(n) });
const SECRETS: RingSealedColumn = { table: 'integration_secrets', column: 'secret', idColumn: 'id' };

let data: TestDatabase;
let keystore: TestDatabase;
let redis: TestRedis;
let queues: Queues;
let ring: KeyRing;
let userKeys: UserKeys;
const sealedFields: Buffer[] = [];

const rowsOf = <T>(result: unknown) => (result as { rows: T[] }).rows;

async function allReadable(keys: UserKeys, ringNow: KeyRing): Promise<boolean> {
  for (let n = 0; n < USERS; n++) {
    const opened = await keys.openForUser(userId(n), sealedFields[n] as Buffer, ctx(n));
    if (opened?.toString() !== `person ${n}`) return false;
  }
  for (const row of rowsOf<{ id: number; secret: Uint8Array }>(
    await data.db.execute(sql`select id, secret from integration_secrets`),
  )) {
    const opened = await ringNow.open(
      Buffer.from(row.secret),
      fieldAad('integration_secrets', 'secret', String(row.id)),
    );
    if (opened.toString() !== `secret ${row.id}`) return false;
  }
  return true;
}

beforeAll(async () => {
  data = await createTestDatabase();
  keystore = await createTestKeystore();
  redis = await createTestRedis();
  queues = createQueues(redis.createBullConnection(), redis.prefix);
  ring = await loadKeyRing(data.db, master);
  userKeys = createUserKeys({ keystore: keystore.db, ring });
  for (let n = 0; n < USERS; n++) sealedFields.push(await userKeys.sealForUser(userId(n), `person ${n}`, ctx(n)));
  await data.db.execute(sql`create table integration_secrets (id int primary key, secret bytea not null)`);
  for (let id = 1; id <= 7; id++) {
    const sealed = ring.seal(Buffer.from(`secret ${id}`), fieldAad('integration_secrets', 'secret', String(id)));
    await data.db.execute(sql`insert into integration_secrets values (${id}, ${sealed})`);
  }
});
afterAll(async () => {
  await queues.close();
  await redis.close();
  await keystore.close();
  await data.close();
});

describe('key rotation round trip', () => {
  it('keeps old ciphertexts readable right after promotion, before any re-encryption', async () => {
    expect(await ring.rotate()).toBe(2);
    expect(await allReadable(userKeys, ring)).toBe(true);
    expect((await userKeys.countByRingKey()).get(1)).toBe(USERS);
  });

  it('re-encrypts column values in resumable batches, and a second run moves nothing', async () => {
    const deps = { db: data.db, ring, userKeys, columns: [SECRETS] };
    // Skip the user-key phase here (the worker test below does it); start at the columns.
    let progress: ReencryptProgress = { ...INITIAL_PROGRESS, phase: 'columns' };
    const steps: number[] = [];
    while (progress.phase !== 'done') {
      // Each step starts from the saved progress alone, as a crashed and retried job would.
      progress = await reencryptStep(deps, JSON.parse(JSON.stringify(progress)), 3);
      steps.push(progress.moved);
    }
    expect(progress.moved).toBe(7);
    expect(steps.length).toBeGreaterThanOrEqual(3); // 7 values in batches of 3
    const again = await reencryptStep(deps, { ...INITIAL_PROGRESS, phase: 'columns' }, 100);
    expect(again.moved).toBe(0);
  });

  it('rewraps every data key through the real worker, then the old key can be retired', async () => {
    const workers = await startWorkers({
      database: data,
      crypto: { ring, userKeys },
      audit: { signingKey: deriveAuditSigningKey(randomBytesOf(32)) },
      logger: createLogger({ level: 'silent' }),
      connection: () => redis.createBullConnection(),
      redisPrefix: redis.prefix,
    });
    const events = new QueueEvents('crypto', {
      connection: redis.createBullConnection(),
      prefix: bullPrefix(redis.prefix),
    });
    await events.waitUntilReady();
    const job = await queues.crypto.add('reencrypt', {
      kind: 'reencrypt',
      requestedAt: new Date().toISOString(),
      batchSize: 7,
    });
    const result = await job.waitUntilFinished(events, 30_000);
    expect(result.moved).toBe(USERS);
    const counts = await userKeys.countByRingKey();
    expect(counts.get(2)).toBe(USERS);
    expect(counts.get(1)).toBeUndefined();

    // Idempotent: running it again moves nothing.
    const second = await queues.crypto.add('reencrypt', { kind: 'reencrypt', requestedAt: new Date().toISOString() });
    expect((await second.waitUntilFinished(events, 30_000)).moved).toBe(0);
    await events.close();
    await workers.close();

    expect(await retirableKeys({ db: data.db, ring, userKeys, columns: [SECRETS] })).toEqual([1]);
    await ring.retire(1);
    // Everything still opens with key 1 gone, in this process and in a fresh one.
    expect(await allReadable(userKeys, ring)).toBe(true);
    const freshRing = await loadKeyRing(data.db, master);
    expect(await allReadable(createUserKeys({ keystore: keystore.db, ring: freshRing }), freshRing)).toBe(true);
  });
});
