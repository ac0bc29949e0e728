/**
 * Threat: enrolment through a chat leaks the second factor: codes left in chat history, codes persisted in
 * conversation storage (conversations v2 store every update they replay), a QR code sent to the wrong place,
 * a half-finished enrolment left switched on, or an admin who never enrols. The whole /mfa conversation runs
 * through the real bot with every Bot API call captured: the QR code goes out as a photo with the otpauth link
 * as copyable text, every message carrying a code is deleted, Redis never holds a code, backup code or the
 * secret, and /cancel, the Cancel button, the 10-minute timeout and three wrong codes all leave MFA off.
 */
import { eq } from 'drizzle-orm';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { conversationKeyPrefix } from '#bot/conversations/index.ts';
import { mfaFactors } from '#shared/db/schema-mfa.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { ALICE, callbackQuery, type FixtureUser, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { advanceSeconds, codeNow, nextStep, useTestClock } from '../server/mfa/mfa-helpers.ts';

type Keyboard = { inline_keyboard: { text: string; callback_data?: string }[][] };

let t: TestApp;
let bot: TestBot;
let nextId = 7_100_000;
const ADMIN: FixtureUser = { id: 7_099_999, first_name: 'Admin', language_code: 'en', username: 'boss' };

beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
beforeEach(() => {
  bot = createTestBot({
    db: t.database.db,
    redis: t.redis.client,
    redisPrefix: t.redisPrefix,
    mfa: t.services.mfa,
    adminTelegramIds: [ADMIN.id],
  });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

async function newPerson(): Promise<FixtureUser> {
  const person = { ...ALICE, id: ++nextId, username: `person${nextId}` };
  await bot.handle(textMessage('/start', person));
  bot.calls.length = 0;
  return person;
}

async function userIdOf(telegramId: number): Promise<string> {
  const row = await findUserByTelegramId(t.database.db, telegramId);
  if (!row) throw new Error('no such user');
  return row.id;
}

async function factorStatus(telegramId: number) {
  const [row] = await t.database.db
    .select()
    .from(mfaFactors)
    .where(eq(mfaFactors.userId, await userIdOf(telegramId)));
  return row?.status ?? 'none';
}

/** Every value stored under the conversations prefix (what a Redis dump would show). */
async function storedConversations(): Promise<string> {
  const keys = await t.redis.client.keys(`${conversationKeyPrefix(t.redisPrefix)}*`);
  const values = await Promise.all(keys.map((key) => t.redis.client.get(key)));
  return values.join('\n');
}

const texts = () => bot.callsOf('sendMessage').map((call) => String(call.payload.text));
const lastText = () => texts().at(-1) ?? '';
const buttonsOf = (payload: Record<string, unknown>) =>
  ((payload.reply_markup as Keyboard | undefined)?.inline_keyboard ?? []).flat();
const deletedIds = () => bot.callsOf('deleteMessage').map((call) => Number(call.payload.message_id));

/** Starts /mfa and returns the secret from the otpauth link. */
async function startEnrolment(person: FixtureUser): Promise<string> {
  await bot.handle(textMessage('/mfa', person));
  const uriMessage = texts().find((text) => text.includes('otpauth://'));
  const uri = /otpauth:\/\/[^<\s]+/.exec(uriMessage ?? '')?.[0] ?? '';
  return new URL(uri.replace(/&amp;/g, '&')).searchParams.get('secret') ?? '';
}

function messageId(update: Update): number {
  return update.message?.message_id ?? -1;
}

describe('/mfa enrolment conversation', () => {
  it('explains, sends the QR as a photo and the link as text, deletes code messages, shows codes once', async () => {
    const person = await newPerson();
    const secret = await startEnrolment(person);
    expect(texts()[0]).toContain('authenticator app');
    const photo = bot.callsOf('sendPhoto')[0];
    expect(photo?.payload.chat_id).toBe(person.id);
    const file = photo?.payload.photo as { bytes: Buffer };
    expect(file.bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(file.bytes.length).toBeGreaterThan(500);
    const uriText = texts().find((text) => text.includes('otpauth://')) ?? '';
    expect(uriText).toContain('<code>');
    expect(uriText).toContain(`Telegram%20Security%20Platform:%40${person.username}`);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await factorStatus(person.id)).toBe('pending');

    // A wrong code: deleted, and two tries left.
    const wrong = textMessage('000000', person);
    await bot.handle(wrong);
    expect(deletedIds()).toContain(messageId(wrong));
    expect(lastText()).toContain('2 tries left');
    expect(await storedConversations()).not.toContain('000000');

    // The right code: deleted, MFA on, ten backup codes with an "I saved them" button.
    const code = await codeNow(secret);
    const right = textMessage(code, person);
    await bot.handle(right);
    expect(deletedIds()).toContain(messageId(right));
    expect(await factorStatus(person.id)).toBe('active');
    const codesCall = bot.callsOf('sendMessage').at(-1);
    const codes = /<code>([\s\S]+)<\/code>/.exec(String(codesCall?.payload.text))?.[1]?.split('\n') ?? [];
    expect(codes).toHaveLength(10);
    expect(buttonsOf(codesCall?.payload ?? {}).map((button) => button.callback_data)).toEqual(['mfa:saved']);

    // Nothing secret in conversation storage while the conversation waits for "I saved them".
    const stored = await storedConversations();
    expect(stored.length).toBeGreaterThan(0);
    for (const secretValue of [code, secret, ...codes]) expect(stored).not.toContain(secretValue);

    // "I saved them" (Telegram sends the codes message back inside the callback): it is deleted.
    const saved = callbackQuery('mfa:saved', person) as Update & {
      callback_query: { message: { text: string; message_id: number } };
    };
    saved.callback_query.message.text = String(codesCall?.payload.text);
    await bot.handle(saved);
    // Deleted: the wrong code, the right code, and the codes message the bot sent.
    expect(bot.callsOf('deleteMessage').length).toBe(3);
    expect(deletedIds()).toContain((codesCall?.result as { message_id?: number } | undefined)?.message_id);
    expect(lastText()).toContain('Keep your backup codes safe');
    for (const secretValue of [code, secret, ...codes]) expect(await storedConversations()).not.toContain(secretValue);

    // The backup codes work.
    expect(await t.services.mfa.verify(await userIdOf(person.id), codes[0] ?? '', 'bot')).toBe('ok');
  });

  it('stops after three wrong codes and leaves MFA off', async () => {
    const person = await newPerson();
    await startEnrolment(person);
    for (const code of ['111111', '222222', '333333']) await bot.handle(textMessage(code, person));
    expect(bot.callsOf('deleteMessage')).toHaveLength(3);
    expect(texts().some((text) => text.includes('1 try left'))).toBe(true);
    expect(lastText()).toContain('three times');
    expect(await factorStatus(person.id)).toBe('none');
    // The conversation is over: another code is not taken as a code.
    await bot.handle(textMessage('444444', person));
    expect(lastText()).toContain('didn');
  });

  it('/cancel at the code step cancels and removes the pending secret', async () => {
    const person = await newPerson();
    await startEnrolment(person);
    await bot.handle(textMessage('/cancel', person));
    expect(lastText()).toContain('Cancelled');
    expect(await factorStatus(person.id)).toBe('none');
  });

  it('the Cancel button cancels too', async () => {
    const person = await newPerson();
    await startEnrolment(person);
    const uriMessage = bot.callsOf('sendMessage').find((call) => String(call.payload.text).includes('otpauth://'));
    expect(buttonsOf(uriMessage?.payload ?? {}).map((button) => button.callback_data)).toContain('conv:cancel');
    await bot.handle(callbackQuery('conv:cancel', person));
    expect(bot.callsOf('answerCallbackQuery')).toHaveLength(1);
    expect(lastText()).toContain('Cancelled');
    expect(await factorStatus(person.id)).toBe('none');
  });

  it('times out after 10 minutes: a late code is deleted and not accepted', async () => {
    const person = await newPerson();
    const secret = await startEnrolment(person);
    advanceSeconds(10 * 60 + 5);
    const late = textMessage(await codeNow(secret), person);
    await bot.handle(late);
    expect(deletedIds()).toContain(messageId(late));
    expect(lastText()).toContain('timed out');
    expect(await factorStatus(person.id)).toBe('none');
  });
});

describe('/mfa when enrolled', () => {
  async function enrolled(): Promise<{ person: FixtureUser; secret: string }> {
    const person = await newPerson();
    const secret = await startEnrolment(person);
    await bot.handle(textMessage(await codeNow(secret), person));
    await bot.handle(callbackQuery('mfa:saved', person));
    nextStep();
    bot.calls.length = 0;
    return { person, secret };
  }

  it('shows the status and renews backup codes with a current code', async () => {
    const { person, secret } = await enrolled();
    await bot.handle(textMessage('/mfa', person));
    expect(lastText()).toContain('Backup codes left: 10');
    const status = bot.callsOf('sendMessage').at(-1);
    const [regen] = buttonsOf(status?.payload ?? {}).map((button) => button.callback_data ?? '');
    expect(buttonsOf(status?.payload ?? {}).map((button) => button.callback_data)).toEqual([
      expect.stringMatching(/^mfa:regen:[A-Za-z0-9_-]{12}$/),
      expect.stringMatching(/^mfa:disable:[A-Za-z0-9_-]{12}$/),
    ]);
    await bot.handle(callbackQuery(regen ?? '', person));
    const code = textMessage(await codeNow(secret), person);
    await bot.handle(code);
    expect(deletedIds()).toContain(messageId(code));
    expect(lastText()).toContain('new backup codes');
    expect(bot.callsOf('sendPhoto')).toHaveLength(0);
  });

  it('turns MFA off with a current code (message deleted, conversation storage clean)', async () => {
    const { person, secret } = await enrolled();
    await bot.handle(textMessage('/mfa', person));
    const disable = buttonsOf(bot.callsOf('sendMessage').at(-1)?.payload ?? {}).find((button) =>
      button.callback_data?.startsWith('mfa:disable:'),
    );
    await bot.handle(callbackQuery(disable?.callback_data ?? '', person));
    const value = await codeNow(secret);
    const code = textMessage(value, person);
    await bot.handle(code);
    expect(deletedIds()).toContain(messageId(code));
    expect(lastText()).toContain('off');
    expect(await factorStatus(person.id)).toBe('none');
    expect(await storedConversations()).not.toContain(value);
  });
});

describe('admins must enrol', () => {
  it('an admin without MFA can use only /start, /help and /mfa', async () => {
    await bot.handle(textMessage('/start', ADMIN));
    bot.calls.length = 0;
    await bot.handle(textMessage('/sessions', ADMIN));
    expect(lastText()).toContain('Admins must turn on two-factor codes');
    await bot.handle(textMessage('/help', ADMIN));
    expect(lastText()).toContain('Here is what I can do');
    await bot.handle(textMessage('/mfa', ADMIN));
    expect(bot.callsOf('sendPhoto')).toHaveLength(1);
    await bot.handle(textMessage('/cancel', ADMIN));
  });

  it('an enrolled admin is let through', async () => {
    const admin: FixtureUser = { ...ADMIN, id: 7_099_998, username: 'boss2' };
    bot = createTestBot({
      db: t.database.db,
      redis: t.redis.client,
      redisPrefix: t.redisPrefix,
      mfa: t.services.mfa,
      adminTelegramIds: [admin.id],
    });
    await bot.handle(textMessage('/start', admin));
    const secret = await startEnrolment(admin);
    await bot.handle(textMessage(await codeNow(secret), admin));
    await bot.handle(callbackQuery('mfa:saved', admin));
    bot.calls.length = 0;
    await bot.handle(textMessage('/sessions', admin));
    expect(lastText()).not.toContain('Admins must turn on two-factor codes');
  });

  it('a regular user is never gated', async () => {
    const person = await newPerson();
    await bot.handle(textMessage('/sessions', person));
    expect(lastText()).not.toContain('Admins must');
  });
});
