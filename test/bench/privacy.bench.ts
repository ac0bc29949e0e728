/**
 * Privacy: the data-subject export of a person with 100,000 audit events (every one with sealed details, opened
 * with their key) — time and peak memory, measured in a child process of its own so its peak RSS is honest —
 * and the retention purge of 100,000 expired rows (rows/s). Both run on PGlite and, when BENCH_DATABASE_URL or
 * TEST_DATABASE_URL names a server, on PostgreSQL (where the process holds no embedded database, so its whole
 * RSS is the export's).
 *
 *   node --import tsx test/bench/privacy.bench.ts          # prints the figures as JSON
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { type AuditChainFields, auditDetailsContext, auditEntryHash, GENESIS_HASH } from '#shared/audit/index.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { createUserKeys } from '#shared/crypto/user-keys.ts';
import { connectDatabase, type Database, KEYSTORE_MIGRATIONS_DIR } from '#shared/db/index.ts';
import { auditLog } from '#shared/db/schema.ts';
import { usageCounters } from '#shared/db/schema-privacy.ts';
import { bindUserIdentity, deriveTelegramIdIndexKey, upsertTelegramUser } from '#shared/identity/users.ts';
import { ANALYTICS_RETENTION_DAYS, applyRetention, exportSubject } from '#shared/privacy/index.ts';
import type { BenchFigure } from './run.ts';

const AUDIT_EVENTS = 100_000;
const EXPIRED_ROWS = 100_000;
const INSERT_BATCH = 1_000;
const EXPORT_GOAL_MB = 100;
const controller = {
  name: 'Bench Ltd',
  contact: 'privacy@example.com',
  dpo: undefined,
  jurisdiction: 'EU',
  policyUrl: undefined,
};

/** Opens (and migrates) a database: a PostgreSQL URL, or else a PGlite folder. */
async function openPglite(location: string, keystore = false): Promise<Database> {
  const database = await connectDatabase({
    ...(location.startsWith('postgres') ? { databaseUrl: location } : { pgliteDir: location }),
    ...(keystore ? { migrationsDir: KEYSTORE_MIGRATIONS_DIR } : {}),
  });
  await database.migrate();
  return database;
}

/** Seeds one person with AUDIT_EVENTS chained audit entries, each with details sealed with their key. */
async function seedExportData(dataDir: string, keystoreDir: string, masterKey: Buffer): Promise<string> {
  const database = await openPglite(dataDir);
  const keystore = await openPglite(keystoreDir, true);
  const ring = await loadKeyRing(database.db, masterKey);
  const userKeys = createUserKeys({ keystore: keystore.db, ring });
  bindUserIdentity(database.db, { indexKey: deriveTelegramIdIndexKey(masterKey), cipher: userKeys });
  const { user } = await upsertTelegramUser(database.db, {
    telegramId: 42_424_242,
    languageCode: 'en',
    adminTelegramIds: [],
  });
  const userId = user.id;
  let prev = { seq: 0, hash: GENESIS_HASH as Uint8Array, occurredAt: new Date(Date.now() - AUDIT_EVENTS * 10) };
  let batch: (AuditChainFields & { hash: Buffer })[] = [];
  for (let index = 0; index < AUDIT_EVENTS; index++) {
    const seq = prev.seq + 1;
    const id = randomUUID();
    const details = await userKeys.sealForUser(
      userId,
      JSON.stringify({ client: 'Mini App · ios', note: `event ${index}` }),
      auditDetailsContext(id),
    );
    const fields: AuditChainFields = {
      seq,
      id,
      occurredAt: new Date(prev.occurredAt.getTime() + 5),
      actorType: 'user',
      actorId: userId,
      action: index % 3 === 0 ? 'auth.login' : 'session.revoke',
      targetType: null,
      targetId: null,
      subjectUserId: userId,
      result: 'success',
      reasonCode: null,
      requestId: `req-${seq}`,
      source: 'api',
      ipPrefix: '198.51.100.0/24',
      details,
      prevHash: Buffer.from(prev.hash),
    };
    const hash = auditEntryHash(fields);
    batch.push({ ...fields, hash });
    prev = { seq, hash, occurredAt: fields.occurredAt };
    if (batch.length === INSERT_BATCH || index === AUDIT_EVENTS - 1) {
      await database.db.insert(auditLog).values(
        batch.map((row) => ({
          ...row,
          details: row.details ? Buffer.from(row.details) : null,
          prevHash: Buffer.from(row.prevHash),
        })),
      );
      batch = [];
    }
  }
  await database.close();
  await keystore.close();
  return userId;
}

/** The child: opens the seeded databases, exports, prints time and memory as JSON. */
async function exportChild(): Promise<void> {
  const [dataDir, keystoreDir, userId, exportDir] = process.argv.slice(3);
  const masterKey = Buffer.from(process.env.BENCH_MASTER_KEY ?? '', 'hex');
  const database = await openPglite(dataDir as string);
  const keystore = await openPglite(keystoreDir as string, true);
  const ring = await loadKeyRing(database.db, masterKey);
  const userKeys = createUserKeys({ keystore: keystore.db, ring });
  global.gc?.();
  const baselineRss = process.memoryUsage().rss;
  let peakRss = baselineRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  const started = performance.now();
  const result = await exportSubject(
    { db: database.db, cipher: userKeys, controller, dir: exportDir as string },
    { userId: userId as string, fileId: 'bench' },
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  // maxRSS (KiB) is the kernel's own high-water mark for the whole process.
  const maxRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(
    `${JSON.stringify({ seconds, rows: result.counts.audit_log, bytes: result.bytes, baselineRss, peakRss, maxRss })}\n`,
  );
  await database.close();
  await keystore.close();
}

async function retentionRate(database: Database): Promise<number> {
  const { db } = database;
  const old = new Date(Date.now() - (ANALYTICS_RETENTION_DAYS + 5) * 86_400_000);
  const userId = randomUUID();
  for (let start = 0; start < EXPIRED_ROWS; start += INSERT_BATCH) {
    await db.insert(usageCounters).values(
      Array.from({ length: INSERT_BATCH }, (_, i) => ({
        userId,
        day: '2026-01-01',
        event: `e${start + i}`,
        createdAt: old,
      })),
    );
  }
  const started = performance.now();
  const report = await applyRetention({ db, maxRows: EXPIRED_ROWS * 2 });
  const seconds = (performance.now() - started) / 1000;
  const removed = report.results.find((r) => r.table === 'usage_counters')?.rows ?? 0;
  if (removed !== EXPIRED_ROWS) throw new Error(`retention removed ${removed}, expected ${EXPIRED_ROWS}`);
  return removed / seconds;
}

/** Seeds the databases, exports in a child process of its own, and returns the figures. */
async function exportFigures(
  dataLocation: string,
  keystoreLocation: string,
  exportDir: string,
  store: 'PGlite' | 'PostgreSQL',
): Promise<BenchFigure[]> {
  const masterKey = randomBytes(32);
  const userId = await seedExportData(dataLocation, keystoreLocation, masterKey);
  const self = fileURLToPath(import.meta.url);
  const output = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', self, '--export-child', dataLocation, keystoreLocation, userId, exportDir],
    { env: { ...process.env, BENCH_MASTER_KEY: masterKey.toString('hex') }, encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  const child = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as {
    seconds: number;
    rows: number;
    bytes: number;
    baselineRss: number;
    peakRss: number;
    maxRss: number;
  };
  const mb = (bytes: number) => bytes / 1024 / 1024;
  return [
    {
      name: `export of ${child.rows.toLocaleString('en')} audit events (${store}): time`,
      value: child.seconds,
      unit: 's',
    },
    {
      name: `export (${store}): rows/s`,
      value: child.rows / child.seconds,
      unit: 'rows/s',
      note: `${mb(child.bytes).toFixed(1)} MB of JSON`,
    },
    {
      name: `export (${store}): peak RSS of the whole process${store === 'PGlite' ? ' (PGlite included)' : ''}`,
      value: mb(child.maxRss),
      unit: 'MB',
      note: `${mb(child.baselineRss).toFixed(0)} MB before the export started`,
    },
    {
      name: `export (${store}): memory the export itself added (peak - baseline)`,
      value: mb(child.peakRss - child.baselineRss),
      unit: 'MB',
      goal: `<= ${EXPORT_GOAL_MB} MB`,
      meets: mb(child.peakRss - child.baselineRss) <= EXPORT_GOAL_MB,
    },
  ];
}

export async function run(): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  const root = mkdtempSync(join(tmpdir(), 'tsp-bench-privacy-'));
  try {
    const dataDir = join(root, 'data');
    const keystoreDir = join(root, 'keystore');
    figures.push(...(await exportFigures(dataDir, keystoreDir, join(root, 'exports'), 'PGlite')));
    const pglite = await openPglite('memory://');
    figures.push({
      name: `retention purge of ${EXPIRED_ROWS.toLocaleString('en')} expired rows (PGlite)`,
      value: await retentionRate(pglite),
      unit: 'rows/s',
    });
    await pglite.close();
    const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
    if (serverUrl) {
      const name = `bench_${randomBytes(5).toString('hex')}`;
      const admin = async (statement: string) => {
        const client = new pg.Client({ connectionString: serverUrl });
        await client.connect();
        await client.query(statement);
        await client.end();
      };
      await admin(`create database ${name}`);
      await admin(`create database ${name}_data`);
      await admin(`create database ${name}_keys`);
      const located = (database: string) => {
        const location = new URL(serverUrl);
        location.pathname = `/${database}`;
        return location.toString();
      };
      try {
        figures.push(
          ...(await exportFigures(
            located(`${name}_data`),
            located(`${name}_keys`),
            join(root, 'exports-pg'),
            'PostgreSQL',
          )),
        );
      } finally {
        await admin(`drop database if exists ${name}_data with (force)`);
        await admin(`drop database if exists ${name}_keys with (force)`);
      }
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      const server = await connectDatabase({ databaseUrl: url.toString() });
      await server.migrate();
      figures.push({
        name: `retention purge of ${EXPIRED_ROWS.toLocaleString('en')} expired rows (PostgreSQL)`,
        value: await retentionRate(server),
        unit: 'rows/s',
      });
      await server.close();
      await admin(`drop database if exists ${name} with (force)`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return figures;
}

if (process.argv[2] === '--export-child') {
  await exportChild();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${JSON.stringify(await run(), null, 2)}\n`);
}
