/**
 * A worker process for the erasure crash test (run with `node --import tsx`; configured by the environment
 * like server/main.ts). It opens the product's databases, Redis and services as server/start.ts does and runs
 * the real `privacy` processor in a BullMQ Worker with short locks, so a job whose worker died is taken over in
 * seconds rather than the default half minute.
 *
 * - `seed`: creates a person with data (a data key, an API key) and a due erasure request, queues its job,
 *   prints `SEEDED {json}`, then works; after the first table step it prints `PAUSED <step>` and stops
 *   there, so the test can SIGKILL the process mid-erasure.
 * - `resume`: prints `BEFORE {state}`, works until the request is completed, prints `AFTER {state}`, exits.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { eq } from 'drizzle-orm';
import { bullPrefix, createQueues, QUEUES } from '#server/queues.ts';
import { controllerInfo, createServices } from '#server/services.ts';
import { privacyProcessor } from '#server/workers/privacy.worker.ts';
import { parseConfig } from '#shared/config/index.ts';
import { resolveSecrets } from '#shared/config/secrets.ts';
import { connectDatabase, KEYSTORE_MIGRATIONS_DIR } from '#shared/db/index.ts';
import { apiKeys, users } from '#shared/db/schema.ts';
import { privacyErasureSteps, privacyRequests } from '#shared/db/schema-privacy.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { createLogger } from '#shared/logger.ts';
import { createRequest } from '#shared/privacy/index.ts';
import { connectRedis } from '#shared/redis/index.ts';

const mode = process.argv[2];
const config = parseConfig(process.env, { cwd: process.cwd() });
const { secrets } = resolveSecrets(config);
const logger = createLogger({ level: 'silent' });
const database = await connectDatabase({ databaseUrl: config.databaseUrl, pgliteDir: join(config.dataDir, 'pglite') });
await database.migrate();
const keystore = await connectDatabase({
  databaseUrl: config.keystoreDatabaseUrl,
  pgliteDir: join(config.dataDir, 'keystore'),
  migrationsDir: KEYSTORE_MIGRATIONS_DIR,
});
await keystore.migrate();
const redis = await connectRedis({ url: config.redisUrl, isDefault: false, dataDir: config.dataDir });
const queues = createQueues(redis.createBullConnection(), config.redisPrefix);
const services = await createServices({
  config,
  secrets,
  database,
  keystore,
  redis,
  redisPrefix: config.redisPrefix,
  queues,
  logger,
});
const { db } = database;

async function stateOf(requestId: string, userId: string) {
  const [request] = await db.select().from(privacyRequests).where(eq(privacyRequests.id, requestId));
  const [user] = await db.select().from(users).where(eq(users.id, userId));
  const steps = await db.select().from(privacyErasureSteps).where(eq(privacyErasureSteps.requestId, requestId));
  const keys = await db.select().from(apiKeys).where(eq(apiKeys.userId, userId));
  return {
    requestStatus: request?.status,
    userStatus: user?.status ?? null,
    steps: steps.map((row) => row.step).sort(),
    apiKeys: keys.length,
    shredded: await services.userKeys.isShredded(userId),
  };
}

let pauseOnce = mode === 'seed';
const worker = new Worker(
  QUEUES.privacy.name,
  privacyProcessor({
    db,
    userKeys: services.userKeys,
    controller: controllerInfo(config),
    dataDir: config.dataDir,
    sessions: services.sessions,
    audit: services.audit,
    logger,
    afterErasureStep: async (step) => {
      if (pauseOnce && step.startsWith('table:')) {
        pauseOnce = false;
        process.stdout.write(`PAUSED ${step}\n`);
        await new Promise(() => {}); // stands still until the test kills the process
      }
    },
  }),
  {
    connection: redis.createBullConnection(),
    prefix: bullPrefix(config.redisPrefix),
    concurrency: 1,
    lockDuration: 3_000,
    stalledInterval: 1_000,
  },
);
worker.on('error', () => {});

const ids = JSON.parse(process.env.ERASURE_IDS ?? '{}') as { requestId?: string; userId?: string };
if (mode === 'seed') {
  const { user } = await upsertTelegramUser(db, { telegramId: 7_400_001, languageCode: 'en', adminTelegramIds: [] });
  await services.userKeys.sealForUser(user.id, 'a value only this person’s key opens', {
    table: 'users',
    column: 'resilience',
    rowId: user.id,
  });
  await services.apiKeys.create({ userId: user.id, name: 'script', source: 'api' });
  const request = await createRequest(db, {
    userId: user.id,
    kind: 'erasure',
    status: 'scheduled',
    effectiveAt: new Date(Date.now() - 1_000), // the grace period has passed
  });
  process.stdout.write(`SEEDED ${JSON.stringify({ requestId: request.id, userId: user.id })}\n`);
  await queues.privacy.add('erase', { kind: 'erase', requestId: request.id }, { jobId: `erase-${request.id}` });
} else if (mode === 'resume' && ids.requestId && ids.userId) {
  const { requestId, userId } = ids;
  process.stdout.write(`BEFORE ${JSON.stringify(await stateOf(requestId, userId))}\n`);
  const deadline = Date.now() + 90_000;
  while ((await stateOf(requestId, userId)).requestStatus !== 'completed') {
    if (Date.now() > deadline) throw new Error('the erasure did not complete in time');
    await sleep(200);
  }
  process.stdout.write(`AFTER ${JSON.stringify(await stateOf(requestId, userId))}\n`);
  await worker.close();
  await queues.close();
  await services.defense.close();
  await redis.close();
  await keystore.close();
  await database.close();
  process.exit(0);
} else {
  throw new Error(`unknown mode ${mode}`);
}
