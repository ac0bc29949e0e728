/**
 * Threat: scan results tell an attacker exactly what to exploit, so only admins may read them or start
 * scans. End to end on real parts: the API queues a scan, the real BullMQ worker runs it against a fixture
 * lockfile and advisories, the real app's own headers and the real Redis; admins are alerted in Telegram
 * about new high-risk findings once, not on every scan.
 */
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullPrefix, type ScannerJobResult } from '#server/queues.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { PROJECT_ROOT } from '#shared/config/index.ts';
import { auditLog } from '#shared/db/schema.ts';
import { createLogger } from '#shared/logger.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signInAs, withSecondFactor } from '#test/helpers/sign-in.ts';

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'scanner');

let t: TestApp;
let workers: RunningWorkers;
let telegram: TestBot;
let events: QueueEvents;
let admin: SignedIn;
let member: SignedIn;

interface ScanBody {
  scan: {
    id: string;
    counts: Record<string, number>;
    newCount: number;
    findings: {
      kind: string;
      rule: string;
      severity: string;
      title: string;
      firstSeenAt: string;
      lastSeenAt: string;
      new: boolean;
    }[];
  } | null;
}

beforeAll(async () => {
  t = await buildTestApp({
    env: {
      BOT_TOKEN: TEST_BOT_TOKEN,
      SCANNER_LOCKFILE_PATH: join(FIXTURES, 'package-lock.json'),
      SCANNER_ADVISORIES_PATH: join(FIXTURES, 'advisories'),
    },
  });
  // The HTTP self-check calls the running app over the network, as in production.
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  telegram = createTestBot({ db: t.database.db }); // only its recording fetch is used: the Bot API edge
  workers = await startWorkers({
    database: t.database,
    crypto: { ring: t.ring, userKeys: t.userKeys },
    audit: { signingKey: deriveAuditSigningKey(t.secrets.masterKey) },
    telegram: { botToken: TEST_BOT_TOKEN, apiRoot: 'https://api.telegram.invalid', fetch: telegram.fetch },
    scanner: {
      config: { ...t.config, scanner: { ...t.config.scanner, selfUrl: address } },
      secrets: t.secrets,
      redis: t.redis.client,
      notify: t.services.notify,
      audit: t.services.audit,
    },
    logger: createLogger({ level: 'silent' }),
    connection: () => t.redis.createBullConnection(),
    redisPrefix: t.redisPrefix,
  });
  events = new QueueEvents('scanner', {
    connection: t.redis.createBullConnection(),
    prefix: bullPrefix(t.redisPrefix),
  });
  await events.waitUntilReady();
  admin = await withSecondFactor(t, await signInAs(t, 'admin'));
  member = await signInAs(t, 'user');
});
afterAll(async () => {
  await events.close();
  await workers.close();
  await t.close();
});

const latest = (token?: string) =>
  t.app.inject({ method: 'GET', url: '/api/v1/admin/scans/latest', headers: token ? bearer(token) : {} });
const runNow = (token?: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/admin/scans', headers: token ? bearer(token) : {} });

async function scanAndWait(): Promise<ScannerJobResult> {
  const response = await runNow(admin.accessToken);
  expect(response.statusCode).toBe(202);
  const { jobId, queued } = response.json() as { jobId: string; queued: boolean };
  expect(queued).toBe(true);
  const job = await t.queues.scanner.getJob(jobId);
  return (await job?.waitUntilFinished(events, 30_000)) as ScannerJobResult;
}

async function waitFor<T>(read: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('scanner API', () => {
  it('is for admins only', async () => {
    expect((await latest()).statusCode).toBe(401);
    expect((await runNow()).statusCode).toBe(401);
    const read = await latest(member.accessToken);
    expect(read.statusCode).toBe(403);
    expect((await runNow(member.accessToken)).statusCode).toBe(403);
    expect(await t.queues.scanner.getJobCounts('waiting', 'active', 'completed')).toEqual({
      waiting: 0,
      active: 0,
      completed: 0,
    });
  });

  it('answers null before the first scan', async () => {
    const response = await latest(admin.accessToken);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ scan: null });
  });

  it('runs a scan: finds the vulnerable lockfile entry, misses the fixed one, and alerts the admin once', async () => {
    const result = await scanAndWait();
    expect(result.newCount).toBeGreaterThan(0);
    expect(result.alerted).toBe(1); // the one admin; the member is not told

    const body = (await latest(admin.accessToken)).json() as ScanBody;
    const titles = body.scan?.findings.map((f) => f.title) ?? [];
    expect(titles).toContain('vuln-lib@1.2.3: vuln-lib lets a crafted header crash the server');
    expect(titles.some((title) => title.startsWith('vuln-lib@1.2.4'))).toBe(false);
    const rules = body.scan?.findings.map((f) => f.rule) ?? [];
    expect(rules).toContain('config.admin_without_mfa');
    // The real Redis runs noeviction, and the real app sends its own header policy: no findings for either.
    expect(rules).not.toContain('config.redis_eviction');
    expect(body.scan?.findings.filter((f) => f.kind === 'http')).toEqual([]);
    expect(body.scan?.findings.every((f) => f.new)).toBe(true);
    expect(body.scan?.findings[0]?.severity).toBe('critical'); // most severe first
    expect(body.scan?.counts.critical).toBe(result.counts.critical);

    const alert = await waitFor(() =>
      telegram.callsOf('sendMessage').find((call) => call.payload.chat_id === admin.telegramId),
    );
    expect(String(alert.payload.text)).toMatch(/found \d+ new high-risk finding/);
    expect(JSON.stringify(alert.payload.reply_markup)).toContain('scan:report');
    expect(telegram.callsOf('sendMessage').some((call) => call.payload.chat_id === member.telegramId)).toBe(false);

    const requested = await t.database.db.select().from(auditLog).where(eq(auditLog.action, 'scanner.scan_requested'));
    expect(requested).toHaveLength(1);
    expect(requested[0]?.actorId).toBe(admin.userId);
  });

  it('a second scan keeps first-seen dates, marks nothing new and alerts nobody', async () => {
    const before = (await latest(admin.accessToken)).json() as ScanBody;
    const sent = telegram.callsOf('sendMessage').length;
    const result = await scanAndWait();
    expect(result).toMatchObject({ newCount: 0, resolvedCount: 0, alerted: 0 });
    const after = (await latest(admin.accessToken)).json() as ScanBody;
    expect(after.scan?.id).not.toBe(before.scan?.id);
    const vuln = (body: ScanBody) => body.scan?.findings.find((f) => f.rule === 'FIX-0001');
    expect(vuln(after)?.firstSeenAt).toBe(vuln(before)?.firstSeenAt);
    expect(String(vuln(after)?.lastSeenAt) > String(vuln(before)?.lastSeenAt)).toBe(true);
    expect(vuln(after)?.new).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(telegram.callsOf('sendMessage')).toHaveLength(sent);
  });

  it('reuses a scan that is already waiting instead of queueing another', async () => {
    const worker = workers.workers.find((w) => w.name === 'scanner');
    await worker?.pause();
    try {
      const first = (await runNow(admin.accessToken)).json() as { jobId: string; queued: boolean };
      const second = (await runNow(admin.accessToken)).json() as { jobId: string; queued: boolean };
      expect(first.queued).toBe(true);
      expect(second).toEqual({ jobId: first.jobId, queued: false });
    } finally {
      worker?.resume();
    }
  });
});

describe('daily schedule', () => {
  it('registers one daily scan scheduler (idempotent across worker processes)', async () => {
    const { scheduleRepeatableJobs, SCAN_INTERVAL_MS } = await import('#server/queues.ts');
    await scheduleRepeatableJobs(t.queues);
    await scheduleRepeatableJobs(t.queues);
    const schedulers = (await t.queues.scanner.getJobSchedulers()).filter((s) => s.key === 'scanner-daily');
    expect(schedulers).toHaveLength(1);
    expect(Number(schedulers[0]?.every)).toBe(SCAN_INTERVAL_MS);
    expect(SCAN_INTERVAL_MS).toBe(24 * 3600 * 1000);
  });
});
