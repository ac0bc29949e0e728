/**
 * Threat: scan results in the wrong hands are a map of what to exploit, and a scan button anyone can press
 * is a way to load the server. /scan and its buttons answer admins only (checked on every tap); a requested
 * scan runs on the real worker, which edits the admin's status message with progress and then the report.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueues, type Queues } from '#server/queues.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { createScannerService } from '#server/workers/scanner.ts';
import { createAuditLog, deriveAuditSigningKey } from '#shared/audit/index.ts';
import { PROJECT_ROOT } from '#shared/config/index.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { createUserKeys } from '#shared/crypto/user-keys.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { bindUserIdentity, deriveTelegramIdIndexKey, upsertTelegramUser } from '#shared/identity/users.ts';
import { createLogger } from '#shared/logger.ts';
import { ALICE, BOB, callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { type ApiCall, createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestConfig } from '#test/helpers/test-config.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

type Keyboard = { inline_keyboard: { text: string; callback_data?: string }[][] };
const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'scanner');

let database: TestDatabase;
let keystore: TestDatabase;
let redis: TestRedis;
let queues: Queues;
let workers: RunningWorkers;
let t: TestBot;

beforeAll(async () => {
  [database, keystore, redis] = await Promise.all([createTestDatabase(), createTestKeystore(), createTestRedis()]);
  queues = createQueues(redis.createBullConnection(), redis.prefix);
  const masterKey = randomBytes(32);
  const ring = await loadKeyRing(database.db, masterKey);
  const userKeys = createUserKeys({ keystore: keystore.db, ring });
  bindUserIdentity(database.db, { indexKey: deriveTelegramIdIndexKey(masterKey), cipher: userKeys });
  await upsertTelegramUser(database.db, { telegramId: ALICE.id, languageCode: 'en', adminTelegramIds: [ALICE.id] });
  await upsertTelegramUser(database.db, { telegramId: BOB.id, languageCode: 'en', adminTelegramIds: [] });
  const audit = createAuditLog({ db: database.db });
  t = createTestBot({
    db: database.db,
    audit,
    scanner: createScannerService({ db: database.db, queue: queues.scanner }),
  });
  const { config, secrets } = createTestConfig({
    SCANNER_LOCKFILE_PATH: join(FIXTURES, 'package-lock.json'),
    SCANNER_ADVISORIES_PATH: join(FIXTURES, 'advisories'),
  });
  workers = await startWorkers({
    database,
    crypto: { ring, userKeys },
    audit: { signingKey: deriveAuditSigningKey(randomBytes(32)) },
    // The worker talks to the same recording Bot API edge as the bot: its edits land in `t.calls`.
    telegram: { botToken: TEST_BOT_TOKEN, apiRoot: 'https://api.telegram.invalid', fetch: t.fetch },
    scanner: {
      config,
      secrets,
      redis: redis.client,
      notify: async (job) => {
        await queues.notify.add(job.kind, job);
      },
      audit,
      httpExpectations: [], // no API runs in this file; the HTTP self-check has its own tests
    },
    logger: createLogger({ level: 'silent' }),
    connection: () => redis.createBullConnection(),
    redisPrefix: redis.prefix,
  });
});
afterAll(async () => {
  await workers.close();
  await queues.close();
  await redis.close();
  await keystore.close();
  await database.close();
});

const lastOf = (method: string): ApiCall | undefined => t.callsOf(method).at(-1);
const buttons = (call: ApiCall | undefined) =>
  ((call?.payload.reply_markup as Keyboard | undefined)?.inline_keyboard ?? []).flat();

async function waitFor<T>(read: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('/scan', () => {
  it('refuses people who are not admins, for the command and for a crafted button', async () => {
    await t.handle(textMessage('/scan', BOB));
    // Answered like an unknown command: nothing hints that admin commands exist.
    expect(lastOf('sendMessage')?.payload.text).toContain("I didn't understand that.");
    expect(buttons(lastOf('sendMessage'))).toEqual([]);
    await t.handle(callbackQuery('scan:run', BOB));
    expect(lastOf('answerCallbackQuery')?.payload).toMatchObject({
      show_alert: true,
      text: 'This command is for admins.',
    });
    await t.handle(callbackQuery('scan:report', BOB));
    expect(lastOf('answerCallbackQuery')?.payload).toMatchObject({ show_alert: true });
    expect(await queues.scanner.getJobCounts('waiting', 'active', 'completed')).toEqual({
      waiting: 0,
      active: 0,
      completed: 0,
    });
  });

  it('shows an admin that no scan has run yet, with a Scan now button', async () => {
    await t.handle(textMessage('/scan', ALICE));
    const reply = lastOf('sendMessage');
    expect(reply?.payload).toMatchObject({ chat_id: ALICE.id, parse_mode: 'HTML' });
    expect(String(reply?.payload.text)).toContain('No scan has run yet');
    expect(buttons(reply)).toEqual([{ text: '🔄 Scan now', callback_data: 'scan:run' }]);
  });

  it('runs a scan from the button: the worker edits the status message with progress, then the report', async () => {
    const before = t.calls.length;
    await t.handle(callbackQuery('scan:run', ALICE));
    expect(lastOf('answerCallbackQuery')?.payload.text).toBe('Scan started.');
    const status = t.calls.slice(before).find((call) => call.method === 'sendMessage');
    expect(status?.payload.text).toBe('🔄 Scan queued…');

    const final = await waitFor(() =>
      t.callsOf('editMessageText').find((call) => String(call.payload.text).includes('<b>Security scan</b>')),
    );
    expect(final.payload).toMatchObject({ chat_id: ALICE.id, parse_mode: 'HTML' });
    const edits = t.callsOf('editMessageText').filter((call) => call.payload.message_id === final.payload.message_id);
    expect(String(edits[0]?.payload.text)).toBe('🔄 Scanning: dependencies (5%)');
    const text = String(final.payload.text);
    expect(text).toContain('🔴 🆕 <b>vuln-lib@1.2.3: vuln-lib lets a crafted header crash the server</b>');
    expect(text).not.toContain('vuln-lib@1.2.4');
    expect(buttons(final)).toEqual([{ text: '🔄 Scan now', callback_data: 'scan:run' }]);

    const [requested] = await database.db.select().from(auditLog).where(eq(auditLog.action, 'scanner.scan_requested'));
    expect(requested).toMatchObject({ source: 'bot', result: 'success', reasonCode: 'QUEUED' });
  });

  it('alerts the admin about the new high-risk findings, and the alert’s button opens the report', async () => {
    const alert = await waitFor(() =>
      t.callsOf('sendMessage').find((call) => String(call.payload.text).includes('new high-risk finding')),
    );
    expect(alert.payload.chat_id).toBe(ALICE.id);
    expect(buttons(alert)).toEqual([{ text: '🛡 Show scan report', callback_data: 'scan:report' }]);
    await t.handle(callbackQuery('scan:report', ALICE));
    const report = lastOf('sendMessage');
    expect(String(report?.payload.text)).toContain('vuln-lib@1.2.3');
    expect(String(report?.payload.text)).toMatch(/🔴 [1-9]\d* critical/);
    expect(
      t
        .callsOf('sendMessage')
        .some((call) => call.payload.chat_id === BOB.id && String(call.payload.text).includes('high-risk')),
    ).toBe(false);
  });
});
