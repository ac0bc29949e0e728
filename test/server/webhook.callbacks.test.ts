/**
 * Threat: forged callback data posted through the webhook: someone taps (or crafts) another person's button,
 * replays a destructive button that was already used or has expired, or sends bytes no button of ours has.
 * Driven through the real POST /telegram/webhook (secret check, dedupe, the whole bot) with the Bot API calls
 * captured at the client's edge; the database shows that nothing was revoked or erased twice, and each refusal
 * is one security event per person and minute.
 */
import { and, eq } from 'drizzle-orm';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CALLBACK_REJECTED_ACTION } from '#bot/callbacks.ts';
import { apiKeys } from '#shared/db/schema-api-keys.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { privacyRequests } from '#shared/db/schema-privacy.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { ALICE, BOB, callbackQuery, type FixtureUser, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { type ApiCall, createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';

type Keyboard = { inline_keyboard: { text: string; callback_data?: string }[][] };
const CAROL: FixtureUser = { id: 5_000_003, first_name: 'Carol', language_code: 'en' };
const POLITE = 'This button is no longer active.';

/** Builds services first (the bot needs them), then the app that serves the webhook with that bot. */
let services: TestApp;
let t: TestApp;
let bot: TestBot;
/** The audit trail's last entry before the running test. */
let startSeq = 0;
beforeAll(async () => {
  services = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
  bot = createTestBot({
    db: services.database.db,
    apiKeys: services.services.apiKeys,
    sessions: services.services.sessions,
    privacy: services.services.privacy,
    audit: services.services.audit,
    redis: services.redis.client,
    redisPrefix: services.redisPrefix,
  });
  t = await buildTestApp({
    database: services.database,
    secrets: services.secrets,
    redisPrefix: services.redisPrefix,
    bot: bot.bot,
    env: { BOT_MODE: 'webhook' },
  });
  for (const person of [ALICE, BOB, CAROL]) await onboard(person);
}, 180_000);
beforeEach(async () => {
  // Security events are deduplicated per person and minute: each test starts a fresh window.
  const keys = await services.redis.client.keys(`${services.redisPrefix}:cb-rejected:*`);
  if (keys.length > 0) await services.redis.client.del(...keys);
  bot.calls.length = 0;
  const rows = await services.database.db.select({ seq: auditLog.seq }).from(auditLog);
  startSeq = Math.max(0, ...rows.map((row) => row.seq));
});
afterAll(async () => {
  await t?.close();
  await services?.close();
});

async function post(update: Update | Buffer) {
  return t.app.inject({
    method: 'POST',
    url: '/telegram/webhook',
    headers: { 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret, 'content-type': 'application/json' },
    payload: Buffer.isBuffer(update) ? update : JSON.stringify(update),
  });
}

async function tap(data: string, from: FixtureUser) {
  const response = await post(callbackQuery(data, from));
  expect(response.statusCode).toBe(200);
  return bot.callsOf('answerCallbackQuery').at(-1)?.payload;
}

function buttons(call: ApiCall | undefined) {
  return ((call?.payload.reply_markup as Keyboard | undefined)?.inline_keyboard ?? []).flat();
}

/** The data of the first button starting with `prefix` in the bot's latest message that has one. */
function buttonData(prefix: string): string {
  for (const call of [...bot.calls].reverse()) {
    const found = buttons(call).find((button) => button.callback_data?.startsWith(prefix));
    if (found?.callback_data) return found.callback_data;
  }
  throw new Error(`no ${prefix} button sent`);
}

async function onboard(person: FixtureUser) {
  expect((await post(textMessage('/start', person))).statusCode).toBe(200);
  await tap(buttonData('cs:s:'), person);
}

async function userIdOf(person: FixtureUser): Promise<string> {
  const user = await findUserByTelegramId(services.database.db, person.id);
  if (!user) throw new Error('fixture');
  return user.id;
}

async function rejections(person: FixtureUser) {
  const userId = await userIdOf(person);
  const rows = await services.database.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, CALLBACK_REJECTED_ACTION), eq(auditLog.actorId, userId)));
  return rows
    .filter((row) => row.seq > startSeq)
    .map((row) => ({ result: row.result, reasonCode: row.reasonCode, source: row.source }));
}

async function auditCount(action: string, targetId: string) {
  const rows = await services.database.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.targetId, targetId)));
  return rows.length;
}

/** Alice's keys, straight from the database. */
async function keysOf(person: FixtureUser) {
  return services.database.db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.userId, await userIdOf(person)));
}

/** A new key for the person through the bot; returns its id. */
async function newKey(person: FixtureUser): Promise<string> {
  await post(textMessage('/apikeys', person));
  const before = new Set((await keysOf(person)).map((row) => row.id));
  await tap(buttonData('ak:new'), person);
  const created = (await keysOf(person)).find((row) => !before.has(row.id));
  if (!created) throw new Error('no key created');
  return created.id;
}

describe('forged callback data through the webhook', () => {
  it('refuses another person’s revoke button: nothing revoked, an event, and the owner’s tap still works', async () => {
    const keyId = await newKey(ALICE);
    await post(textMessage('/apikeys', ALICE));
    await tap(buttonData(`ak:rev:${keyId}`), ALICE);
    const confirm = buttonData(`ak:rev!:${keyId}:`);
    bot.calls.length = 0;

    // Bob sends Alice's button data (forwarded, seen in a screenshot, or crafted).
    expect(await tap(confirm, BOB)).toMatchObject({ text: POLITE });
    expect((await keysOf(ALICE)).find((row) => row.id === keyId)?.revokedAt).toBeNull();
    expect(bot.calls.map((call) => call.method)).toEqual(['answerCallbackQuery']);
    expect(await rejections(BOB)).toEqual([{ result: 'denied', reasonCode: 'WRONG_USER', source: 'bot' }]);

    // Bob's attempt did not burn Alice's button.
    await tap(confirm, ALICE);
    expect((await keysOf(ALICE)).find((row) => row.id === keyId)?.revokedAt).not.toBeNull();
    expect(bot.callsOf('editMessageText').at(-1)?.payload.text).toMatch(/Revoked/);
    expect(await auditCount('api_key.revoked', keyId)).toBe(1);
    expect(await rejections(ALICE)).toEqual([]);
  });

  it('does nothing on a replayed revoke: one revocation in the database, the replay refused', async () => {
    const keyId = await newKey(ALICE);
    await post(textMessage('/apikeys', ALICE));
    await tap(buttonData(`ak:rev:${keyId}`), ALICE);
    const confirm = buttonData(`ak:rev!:${keyId}:`);
    await tap(confirm, ALICE);
    const revokedAt = (await keysOf(ALICE)).find((row) => row.id === keyId)?.revokedAt;
    expect(revokedAt).toBeInstanceOf(Date);
    bot.calls.length = 0;

    // The same data again, as a new update (Telegram's own retry of the same update_id is deduped earlier).
    expect(await tap(confirm, ALICE)).toMatchObject({ text: POLITE });
    expect(bot.calls.map((call) => call.method)).toEqual(['answerCallbackQuery']);
    expect((await keysOf(ALICE)).find((row) => row.id === keyId)?.revokedAt).toEqual(revokedAt);
    expect(await auditCount('api_key.revoked', keyId)).toBe(1);
    expect(await rejections(ALICE)).toEqual([{ result: 'denied', reasonCode: 'NONCE_INVALID', source: 'bot' }]);
  });

  it('schedules one erasure for a double-tapped "Yes, delete": the second tap is refused', async () => {
    const userId = await userIdOf(CAROL);
    await post(textMessage('/mydata', CAROL));
    await tap(buttonData('md:d'), CAROL);
    const yes = buttonData('md:dy:');
    expect(yes).toMatch(/^md:dy:[A-Za-z0-9_-]{12}$/);
    await tap(yes, CAROL);
    expect(String(bot.callsOf('sendMessage').at(-1)?.payload.text)).toMatch(/will be deleted on/);
    const cancel = buttonData('md:cancel:');
    bot.calls.length = 0;

    expect(await tap(yes, CAROL)).toMatchObject({ text: POLITE });
    expect(bot.callsOf('sendMessage')).toEqual([]);
    const erasures = await services.database.db
      .select()
      .from(privacyRequests)
      .where(and(eq(privacyRequests.userId, userId), eq(privacyRequests.kind, 'erasure')));
    expect(erasures).toHaveLength(1);
    expect(await rejections(CAROL)).toEqual([{ result: 'denied', reasonCode: 'NONCE_INVALID', source: 'bot' }]);
    // Cancel the scheduled erasure so the person stays for the other tests.
    await tap(cancel, CAROL);
    expect(String(bot.callsOf('editMessageText').at(-1)?.payload.text)).toMatch(/cancel/i);
  });

  it('refuses an expired nonce: the key is not rotated', async () => {
    const keyId = await newKey(BOB);
    await post(textMessage('/apikeys', BOB));
    const rotate = buttonData(`ak:rot:${keyId}:`);
    const nonce = rotate.split(':').at(-1) ?? '';
    // Ten minutes pass (the nonce's lifetime): Redis drops it.
    expect(await services.redis.client.pexpire(`${services.redisPrefix}:cbn:${nonce}`, 1)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    bot.calls.length = 0;

    expect(await tap(rotate, BOB)).toMatchObject({ text: POLITE });
    expect(bot.calls.map((call) => call.method)).toEqual(['answerCallbackQuery']);
    const keys = await keysOf(BOB);
    expect(keys.filter((row) => row.revokedAt === null && row.replacedById === null)).toHaveLength(1);
    expect(await auditCount('api_key.rotated', keyId)).toBe(0);
    expect(await rejections(BOB)).toEqual([{ result: 'denied', reasonCode: 'NONCE_INVALID', source: 'bot' }]);
  });

  it('answers malformed data politely, never with an error, and a flood writes one event', async () => {
    const keyId = await newKey(ALICE);
    bot.calls.length = 0;
    const junk = [
      'zz:top',
      `ak:rev!:${keyId}`, // destructive without its nonce
      `ak:rev!:${keyId}:AAAAAAAAAAAA:extra`,
      `ak:rot:${keyId.toUpperCase()}:AAAAAAAAAAAA`,
      `ak:rot:${'a'.repeat(200)}`,
      `md:cancel:' OR 1=1 --`,
      'sess:end:\u0000',
      'dsr:x:😀',
      'pv:r:2:AAAAAAAAAAAA',
      'md:dy',
      ':',
      '',
    ];
    for (const data of junk) expect(await tap(data, ALICE), JSON.stringify(data)).toMatchObject({ text: POLITE });

    // Bytes that are not UTF-8 at all, inside the JSON string.
    const update = JSON.stringify(callbackQuery('PLACEHOLDER', ALICE));
    const [head, tail] = update.split('PLACEHOLDER') as [string, string];
    const raw = Buffer.concat([
      Buffer.from(`${head}ak:rot:`),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
      Buffer.from(tail),
    ]);
    const response = await post(raw);
    expect(response.statusCode).toBe(200);
    expect(bot.callsOf('answerCallbackQuery')).toHaveLength(junk.length + 1);
    expect(bot.callsOf('answerCallbackQuery').at(-1)?.payload.text).toBe(POLITE);

    // Nothing but polite answers: no message, no edit, no error alert; the key is untouched.
    expect(new Set(bot.calls.map((call) => call.method))).toEqual(new Set(['answerCallbackQuery']));
    expect(bot.callsOf('answerCallbackQuery').every((call) => call.payload.show_alert !== true)).toBe(true);
    expect((await keysOf(ALICE)).find((row) => row.id === keyId)?.revokedAt).toBeNull();
    // One security event for the whole flood (per person and minute).
    expect(await rejections(ALICE)).toEqual([{ result: 'denied', reasonCode: 'MALFORMED', source: 'bot' }]);
  });

  it('leaves working buttons working', async () => {
    await post(textMessage('/mydata', BOB));
    await tap(buttonData('md:d'), BOB);
    const no = buttonData('md:dn');
    expect(await tap(no, BOB)).not.toMatchObject({ text: POLITE });
    expect(String(bot.callsOf('editMessageText').at(-1)?.payload.text)).toMatch(/kept/i);
    expect(await rejections(BOB)).toEqual([]);
  });
});
