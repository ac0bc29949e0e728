/**
 * Audit-trail throughput, side by side: `verifyAuditLog` over 20,000 entries (with a signed checkpoint every
 * 2,000) against hashing the same entries in memory (the floor), at two batch sizes, and `record()` appends.
 * On PGlite always, and on PostgreSQL when BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server: a
 * scratch database is created there and dropped afterwards.
 *
 *   node --import tsx test/bench/audit-verify.bench.ts          # prints the figures as JSON
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { asc, desc } from 'drizzle-orm';
import pg from 'pg';
import {
  type AuditChainFields,
  type AuditSigningKey,
  auditEntryHash,
  createAuditCheckpoint,
  createAuditLog,
  deriveAuditSigningKey,
  GENESIS_HASH,
  verifyAuditLog,
} from '#shared/audit/index.ts';
import { connectDatabase, type Database } from '#shared/db/index.ts';
import { auditLog } from '#shared/db/schema.ts';

/** Entries verified per run. */
const ENTRIES = 20_000;
/** Entries appended through `record()` (one transaction each) before the rest is bulk-loaded. */
const RECORDED = 1_000;
const CHECKPOINT_EVERY = 2_000;
const INSERT_BATCH = 1_000;

async function openPglite(): Promise<{ database: Database; drop: () => Promise<void> }> {
  const database = await connectDatabase({ pgliteDir: 'memory://' });
  await database.migrate();
  return { database, drop: () => database.close() };
}

async function openServer(serverUrl: string): Promise<{ database: Database; drop: () => Promise<void> }> {
  const name = `bench_${randomBytes(5).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    await client.query(statement);
    await client.end();
  };
  await admin(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const database = await connectDatabase({ databaseUrl: url.toString(), poolMax: 4 });
  await database.migrate();
  return {
    database,
    async drop() {
      await database.close();
      await admin(`drop database if exists ${name} with (force)`);
    },
  };
}

/** Appends `count` realistic entries straight after the head, in multi-row INSERTs (the trigger checks each). */
async function bulkAppend(database: Database, count: number, signingKey: AuditSigningKey): Promise<void> {
  const { db } = database;
  const [head] = await db.select().from(auditLog).orderBy(desc(auditLog.seq)).limit(1);
  let prev = head ?? { seq: 0, hash: GENESIS_HASH, occurredAt: new Date() };
  let batch: (AuditChainFields & { hash: Buffer })[] = [];
  for (let index = 0; index < count; index++) {
    const seq = prev.seq + 1;
    const fields: AuditChainFields = {
      seq,
      id: randomUUID(),
      occurredAt: new Date(prev.occurredAt.getTime() + 5),
      actorType: 'user',
      actorId: randomUUID(),
      action: index % 3 === 0 ? 'auth.login' : 'security.rate_limited',
      targetType: null,
      targetId: null,
      subjectUserId: randomUUID(),
      result: index % 7 === 0 ? 'failure' : 'success',
      reasonCode: index % 7 === 0 ? 'INVALID_INIT_DATA' : null,
      requestId: `req-${seq}`,
      source: 'api',
      ipPrefix: '198.51.100.0/24',
      // A sealed details blob on one entry in four (about the size of a small sealed JSON object).
      details: index % 4 === 0 ? randomBytes(160) : null,
      prevHash: prev.hash,
    };
    const hash = auditEntryHash(fields);
    batch.push({ ...fields, hash });
    prev = { seq, hash, occurredAt: fields.occurredAt };
    if (batch.length === INSERT_BATCH || index === count - 1) {
      await db.insert(auditLog).values(
        batch.map((row) => ({
          ...row,
          details: row.details ? Buffer.from(row.details) : null,
          prevHash: Buffer.from(row.prevHash),
        })),
      );
      batch = [];
    }
    if (seq % CHECKPOINT_EVERY === 0) {
      if (batch.length > 0) throw new Error('sign only on batch boundaries');
      await createAuditCheckpoint(db, { signingKey });
    }
  }
}

async function measure(label: string, store: { database: Database; drop: () => Promise<void> }) {
  const { db } = store.database;
  const figures: Record<string, number> = {};
  const signingKey = deriveAuditSigningKey(randomBytes(32));
  try {
    const audit = createAuditLog({ db });
    let started = performance.now();
    for (let index = 0; index < RECORDED; index++) {
      await audit.record({
        actor: { type: 'anonymous' },
        action: 'auth.login',
        result: 'failure',
        reasonCode: 'INVALID_INIT_DATA',
        source: 'api',
        requestId: `req-${index}`,
        ip: '203.0.113.7',
      });
    }
    figures[`${label}: record(), one after another (entries/s)`] = RECORDED / ((performance.now() - started) / 1000);
    await bulkAppend(store.database, ENTRIES - RECORDED, signingKey);

    // Floor: the same hashing with every row already in memory.
    const rows = await db.select().from(auditLog).orderBy(asc(auditLog.seq));
    started = performance.now();
    for (const row of rows) auditEntryHash(row);
    const hashRate = rows.length / ((performance.now() - started) / 1000);
    figures[`${label}: hashing only, rows in memory (entries/s)`] = hashRate;

    for (const batchSize of [2_000, 500]) {
      const options = { publicKeys: [signingKey.publicKey], batchSize };
      await verifyAuditLog(db, options); // warm-up
      let best = 0;
      for (let run = 0; run < 3; run++) {
        started = performance.now();
        const result = await verifyAuditLog(db, options);
        const seconds = (performance.now() - started) / 1000;
        if (!result.ok || result.checked !== ENTRIES) throw new Error(`verification failed: ${JSON.stringify(result)}`);
        best = Math.max(best, result.checked / seconds);
      }
      figures[`${label}: verifyAuditLog, batches of ${batchSize} (entries/s)`] = best;
    }
  } finally {
    await store.drop();
  }
  return figures;
}

/** Runs the benchmark on PGlite and, when a server URL is set, on PostgreSQL. */
export async function run(): Promise<Record<string, number>> {
  const figures = await measure('PGlite', await openPglite());
  const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (serverUrl) Object.assign(figures, await measure('PostgreSQL', await openServer(serverUrl)));
  return figures;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}
