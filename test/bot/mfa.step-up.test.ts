/**
 * Threat: a stolen Telegram session (an unlocked phone, a hijacked account) runs admin commands or other
 * sensitive actions in the bot. Such actions go through the bot's step-up: "enter your code to continue",
 * verified on the bot channel, the code's message deleted and never stored; a fresh check (10 minutes) is
 * remembered so a run of admin commands asks once. Without MFA the action is refused, not waved through.
 */
import { Bot } from 'grammy';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Context } from '#bot/context.ts';
import { conversationKeyPrefix, installConversations } from '#bot/conversations/index.ts';
import { stepUpAction } from '#bot/features/step-up.ts';
import { translator } from '#bot/i18n/index.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { ALICE, callbackQuery, type FixtureUser, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_INFO, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { advanceSeconds, codeNow, nextStep, useTestClock } from '../server/mfa/mfa-helpers.ts';

let t: TestApp;
let recorder: TestBot;
let bot: Bot<Context>;
let ran: string[];
let nextId = 7_200_000;

beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
beforeEach(() => {
  recorder = createTestBot({ db: t.database.db }); // its recording fetch is the Bot API edge
  ran = [];
  bot = new Bot<Context>(TEST_BOT_TOKEN, { botInfo: TEST_BOT_INFO, client: { fetch: recorder.fetch as never } });
  bot.use(async (ctx, next) => {
    ctx.locale = 'en';
    ctx.t = translator('en');
    await next();
  });
  installConversations(bot, { redis: t.redis.client, redisPrefix: t.redisPrefix });
  const [middleware, enter] = stepUpAction(
    'test-admin-action',
    { db: t.database.db, mfa: t.services.mfa, redis: t.redis.client, redisPrefix: t.redisPrefix },
    async (ctx, userId) => {
      ran.push(userId);
      await ctx.reply('action done');
    },
  );
  bot.use(middleware);
  bot.command('danger', enter);
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

async function person(enrolled: boolean): Promise<{ user: FixtureUser; userId: string; secret: string }> {
  const user = { ...ALICE, id: ++nextId };
  const { user: row } = await upsertTelegramUser(t.database.db, { telegramId: user.id, adminTelegramIds: [] });
  let secret = '';
  if (enrolled) {
    secret = (await t.services.mfa.startEnrolment(row.id, String(user.id))).secret;
    const confirmed = await t.services.mfa.confirmEnrolment(row.id, await codeNow(secret), 'api');
    expect(confirmed.ok).toBe(true);
    nextStep();
  }
  return { user, userId: row.id, secret };
}

const texts = () => recorder.callsOf('sendMessage').map((call) => String(call.payload.text));
const deleted = () => recorder.callsOf('deleteMessage').map((call) => Number(call.payload.message_id));

describe('bot step-up', () => {
  it('asks for a code, deletes it, runs the action, and does not ask again within 10 minutes', async () => {
    const { user, userId, secret } = await person(true);
    await bot.handleUpdate(textMessage('/danger', user));
    expect(texts().at(-1)).toContain('Enter the code');
    expect(ran).toEqual([]);
    const wrong = textMessage('000000', user);
    await bot.handleUpdate(wrong);
    expect(deleted()).toContain(wrong.message?.message_id);
    expect(texts().at(-1)).toContain('2 tries left');
    const value = await codeNow(secret);
    const right = textMessage(value, user);
    await bot.handleUpdate(right);
    expect(deleted()).toContain(right.message?.message_id);
    expect(ran).toEqual([userId]);
    expect(texts().at(-1)).toBe('action done');
    const keys = await t.redis.client.keys(`${conversationKeyPrefix(t.redisPrefix)}*`);
    const stored = (await Promise.all(keys.map((key) => t.redis.client.get(key)))).join('');
    expect(stored).not.toContain(value);

    await bot.handleUpdate(textMessage('/danger', user));
    expect(ran).toEqual([userId, userId]);
    advanceSeconds(11 * 60);
    // The freshness mark lives in Redis (real time): drop it as its TTL would after 10 minutes.
    await t.redis.client.del(`${t.redisPrefix}:bot-step-up:${userId}`);
    await bot.handleUpdate(textMessage('/danger', user));
    expect(ran).toHaveLength(2);
    expect(texts().at(-1)).toContain('Enter the code');
  });

  it('refuses without MFA, and stops on /cancel, the Cancel button and three wrong codes', async () => {
    const plain = await person(false);
    await bot.handleUpdate(textMessage('/danger', plain.user));
    expect(texts().at(-1)).toContain('Set them up with /mfa');

    const { user } = await person(true);
    await bot.handleUpdate(textMessage('/danger', user));
    await bot.handleUpdate(textMessage('/cancel', user));
    expect(texts().at(-1)).toContain('Cancelled');
    await bot.handleUpdate(textMessage('/danger', user));
    await bot.handleUpdate(callbackQuery('conv:cancel', user));
    expect(texts().at(-1)).toContain('Cancelled');
    await bot.handleUpdate(textMessage('/danger', user));
    for (const code of ['111111', '222222', '333333']) await bot.handleUpdate(textMessage(code, user));
    expect(texts().at(-1)).toContain('stopped');
    expect(ran).toEqual([]);
  });
});
