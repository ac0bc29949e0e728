/**
 * Threat: a person cannot get, or cannot stop the deletion of, their data from the chat; or an admin misses a
 * legal deadline silently. Driven through the real bot, real BullMQ workers and Redis: /mydata exports (one
 * status message edited with progress, then the files as documents), erasure is confirmed, scheduled with a
 * grace period and cancelled with one tap (nothing erased), and an admin extends a request with a reason the
 * person is told.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerInfo } from '#server/services.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { users } from '#shared/db/schema.ts';
import { privacyRequests } from '#shared/db/schema-privacy.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { runErasure } from '#shared/privacy/index.ts';
import { ALICE, BOB, callbackQuery, type FixtureUser, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { type ApiCall, createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';

type Keyboard = { inline_keyboard: { text: string; callback_data?: string }[][] };
const buttons = (call: ApiCall | undefined) =>
  ((call?.payload.reply_markup as Keyboard | undefined)?.inline_keyboard ?? []).flat();

let app: TestApp;
let bot: TestBot;
let workers: RunningWorkers;
const ADMIN: FixtureUser = { id: 5_000_900, first_name: 'Ada', language_code: 'en' };

async function until<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The data of the first button starting with `prefix` in the bot's last sent message. */
function dataOf(prefix: string): string {
  const data = buttons(bot.callsOf('sendMessage').at(-1)).find((b) =>
    b.callback_data?.startsWith(prefix),
  )?.callback_data;
  if (!data) throw new Error(`no ${prefix} button`);
  return data;
}

async function onboard(user: FixtureUser) {
  await bot.handle(textMessage('/start', user));
  await bot.handle(callbackQuery(dataOf('cs:s:'), user));
  const person = await findUserByTelegramId(app.database.db, user.id);
  if (!person) throw new Error('fixture');
  return person;
}

beforeAll(async () => {
  app = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, ADMIN_TELEGRAM_IDS: String(ADMIN.id) } });
  bot = createTestBot({ db: app.database.db, privacy: app.services.privacy, adminTelegramIds: [ADMIN.id] });
  workers = await startWorkers({
    database: app.database,
    crypto: { ring: app.ring, userKeys: app.userKeys },
    audit: { signingKey: deriveAuditSigningKey(app.secrets.masterKey) },
    telegram: { botToken: TEST_BOT_TOKEN, apiRoot: 'https://api.telegram.invalid', fetch: bot.fetch },
    privacy: {
      controller: controllerInfo(app.config),
      dataDir: app.config.dataDir,
      sessions: app.services.sessions,
      audit: app.services.audit,
    },
    logger: app.logger,
    connection: () => app.redis.createBullConnection(),
    redisPrefix: app.redisPrefix,
  });
}, 180_000);
afterAll(async () => {
  await workers?.close();
  await app?.close();
});

describe('/mydata', () => {
  it('exports through the worker: one status message edited, then the JSON and HTML as documents', async () => {
    const alice = await onboard(ALICE);
    await bot.handle(textMessage('/mydata', ALICE));
    const menu = bot.callsOf('sendMessage').at(-1);
    expect(buttons(menu).map((b) => b.callback_data)).toEqual(['md:x', 'md:r', 'md:d']);
    await bot.handle(callbackQuery(dataOf('md:x'), ALICE));
    const status = bot.callsOf('sendMessage').at(-1);
    expect(String(status?.payload.text)).toContain('Preparing your data');
    const request = await until(async () => {
      const [row] = await app.database.db.select().from(privacyRequests).where(eq(privacyRequests.userId, alice.id));
      return row?.status === 'completed' ? row : undefined;
    });
    expect(request.progress).toBe(100);
    expect(request.statusMessageId).toBeGreaterThan(0);
    const edits = bot.callsOf('editMessageText').filter((c) => c.payload.message_id === request.statusMessageId);
    expect(edits.at(-1)?.payload.text).toContain('Your data is ready');
    const documents = await until(async () => {
      const sent = bot
        .callsOf('sendDocument')
        .filter((c) => c.payload.chat_id === ALICE.id && String(c.payload.caption).startsWith('Your data'));
      return sent.length >= 2 ? sent : undefined;
    });
    const json = documents
      .map((d) => d.payload.document as { bytes: Buffer } | string)
      .map((d) => (typeof d === 'string' ? d : d.bytes.toString('utf8')));
    const parsed = JSON.parse(json[0] ?? '{}') as {
      subject: { userId: string };
      data: { users: { telegram_id: number | null; telegram_id_sealed: number }[] };
    };
    expect(parsed.subject.userId).toBe(alice.id);
    // The Telegram id is stored sealed with the person's key: the export opens it (the clear column stays empty).
    expect(parsed.data.users[0]?.telegram_id_sealed).toBe(ALICE.id);
    expect(parsed.data.users[0]?.telegram_id).toBeNull();
    expect(json[1]).toContain('<h1>Your data</h1>');
    // The request list in /mydata shows it as done.
    await bot.handle(textMessage('/mydata', ALICE));
    expect(String(bot.callsOf('sendMessage').at(-1)?.payload.text)).toContain('Copy of your data: done');
  }, 30_000);

  it('schedules erasure after confirmation and cancels it with one tap: nothing is erased', async () => {
    const bob = await onboard(BOB);
    await bot.handle(textMessage('/mydata', BOB));
    await bot.handle(callbackQuery(dataOf('md:d'), BOB));
    const confirm = bot.callsOf('sendMessage').at(-1);
    expect(String(confirm?.payload.text)).toContain('Delete all your data?');
    expect(String(confirm?.payload.text)).toContain('audit_log');
    const yes = dataOf('md:dy');
    expect(yes).toMatch(/^md:dy:[A-Za-z0-9_-]{12}$/);
    await bot.handle(callbackQuery(yes, BOB));
    const scheduled = bot.callsOf('sendMessage').at(-1);
    expect(String(scheduled?.payload.text)).toContain('will be deleted on');
    const cancel = buttons(scheduled).find((b) => b.callback_data?.startsWith('md:cancel:'));
    expect(cancel).toBeDefined();
    const [request] = await app.database.db.select().from(privacyRequests).where(eq(privacyRequests.userId, bob.id));
    expect(request?.status).toBe('scheduled');
    expect((request?.effectiveAt?.getTime() ?? 0) - (request?.createdAt.getTime() ?? 0)).toBe(7 * 86_400_000);

    // Someone else cannot cancel it.
    await bot.handle(callbackQuery(cancel?.callback_data ?? '', ALICE));
    expect(String(bot.callsOf('sendMessage').at(-1)?.payload.text)).toContain('can no longer be cancelled');
    await bot.handle(callbackQuery(cancel?.callback_data ?? '', BOB));
    expect(bot.callsOf('editMessageText').at(-1)?.payload.text).toContain('Cancelled');
    const [after] = await app.database.db
      .select()
      .from(privacyRequests)
      .where(eq(privacyRequests.id, request?.id ?? ''));
    expect(after?.status).toBe('cancelled');
    // Even past the grace period, a cancelled erasure does nothing.
    const outcome = await runErasure(
      {
        db: app.database.db,
        userKeys: app.userKeys,
        exportDir: app.config.dataDir,
        now: () => new Date(Date.now() + 8 * 86_400_000),
      },
      request?.id ?? '',
    );
    expect(outcome.status).toBe('cancelled');
    expect((await app.database.db.select().from(users).where(eq(users.id, bob.id)))[0]?.status).toBe('active');
  });

  it('lets an admin extend a deadline with a reason the person is told', async () => {
    const alice = await findUserByTelegramId(app.database.db, ALICE.id);
    const pending = await app.services.privacy.requestExport({ userId: alice?.id ?? '', source: 'api' });
    await onboard(ADMIN);
    await bot.handle(textMessage('/dsr', ALICE));
    // Answered like an unknown command: nothing hints that admin commands exist.
    expect(String(bot.callsOf('sendMessage').at(-1)?.payload.text)).toContain("I didn't understand that.");
    await bot.handle(textMessage('/dsr', ADMIN));
    const queue = bot.callsOf('sendMessage').at(-1);
    expect(String(queue?.payload.text)).toContain('Data requests queue');
    const extend = buttons(queue).find((b) => b.callback_data?.startsWith(`dsr:x:${pending.id}:1:`));
    expect(extend).toBeDefined();
    await bot.handle(callbackQuery(extend?.callback_data ?? '', ADMIN));
    const prompt = bot.callsOf('sendMessage').at(-1);
    expect(prompt?.payload.reply_markup).toMatchObject({ force_reply: true });
    const reply = textMessage('Very large history to assemble', ADMIN) as unknown as {
      message: Record<string, unknown>;
    };
    reply.message.reply_to_message = {
      message_id: 1,
      date: 0,
      chat: { id: ADMIN.id, type: 'private', first_name: 'Ada' },
      from: { id: 123456789, is_bot: true, first_name: 'Security Bot' },
      text: String(prompt?.payload.text),
    };
    await bot.handle(reply as never);
    expect(String(bot.callsOf('sendMessage').at(-1)?.payload.text)).toContain('Extended to');
    const [row] = await app.database.db.select().from(privacyRequests).where(eq(privacyRequests.id, pending.id));
    expect(row?.extensionReason).toBe('Very large history to assemble');
    expect(row?.extendedUntil?.toISOString()).not.toBe(row?.dueAt.toISOString());
    // The person is told, with the reason (Art. 12(3)), through the notify worker.
    const notice = await until(async () =>
      bot
        .callsOf('sendMessage')
        .find((c) => c.payload.chat_id === ALICE.id && String(c.payload.text).includes('We need more time')),
    );
    expect(String(notice.payload.text)).toContain('Very large history to assemble');
  }, 30_000);
});
