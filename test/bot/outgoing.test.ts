/**
 * Outgoing Bot API calls (bot/outgoing.ts) through the real bot and a fake Telegram at the fetch edge:
 * 429 `retry_after` is honoured within bounds, bursts are spaced by the throttler, the transformers also apply
 * inside conversations (which build their own Api), and a person who blocked the bot is marked unreachable
 * (403 on a send, `my_chat_member` kicked) and marked reachable again (unblock, or any message from them).
 */
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Context } from '#bot/context.ts';
import { defineConversation, installConversations } from '#bot/conversations/index.ts';
import { createBot } from '#bot/create-bot.ts';
import { conversationTransformers, REACHABLE_FLUSH_MS } from '#bot/outgoing.ts';
import {
  findUserByTelegramId,
  markBotBlocked,
  markBotsReachable,
  REACHABLE_BATCH_MAX,
  upsertTelegramUser,
} from '#shared/identity/users.ts';
import { createLogger } from '#shared/logger.ts';
import { ALICE, BOB, textMessage } from '#test/fixtures/updates.ts';
import { createTestBot, TEST_BOT_INFO, TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let database: TestDatabase;
let redis: TestRedis;
beforeAll(async () => {
  database = await createTestDatabase();
  redis = await createTestRedis();
});
beforeEach(async () => {
  await database.truncate();
});
afterAll(async () => {
  await redis.close();
  await database.close();
});

interface Sent {
  method: string;
  chatId: number;
  at: number;
  text: string | undefined;
}

/**
 * A fake Telegram: records each request with its time; `answers` are taken in turn for the calls they match
 * (e.g. one 429), every other call succeeds.
 */
function fakeTelegram(answers: { method: string; status: number; body: Record<string, unknown> }[] = []) {
  const sent: Sent[] = [];
  let messageId = 1;
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = url.split('/').pop() ?? '';
    const payload = init?.body ? (JSON.parse(String(init.body)) as Record<string, unknown>) : {};
    const chatId = Number(payload.chat_id ?? 0);
    sent.push({ method, chatId, at: Date.now(), text: typeof payload.text === 'string' ? payload.text : undefined });
    const index = answers.findIndex((answer) => answer.method === method);
    if (index >= 0) {
      const [answer] = answers.splice(index, 1);
      return new Response(JSON.stringify(answer?.body), { status: answer?.status });
    }
    const result =
      method === 'sendMessage'
        ? { message_id: messageId++, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: 'private' } }
        : true;
    return new Response(JSON.stringify({ ok: true, result }), { headers: { 'content-type': 'application/json' } });
  }) as typeof globalThis.fetch;
  return { sent, fetch };
}

function botWith(telegram: ReturnType<typeof fakeTelegram>, outgoing: Parameters<typeof createBot>[1]['outgoing']) {
  return createBot(TEST_BOT_TOKEN, {
    db: database.db,
    logger: createLogger({ level: 'silent' }),
    adminTelegramIds: [],
    publicUrl: undefined,
    apiRoot: 'https://api.telegram.invalid',
    botInfo: TEST_BOT_INFO,
    fetch: telegram.fetch,
    outgoing,
  });
}

const tooMany = (retryAfter: number) => ({
  method: 'sendMessage',
  status: 429,
  body: {
    ok: false,
    error_code: 429,
    description: `Too Many Requests: retry after ${retryAfter}`,
    parameters: { retry_after: retryAfter },
  },
});

describe('429 retry_after', () => {
  it('waits retry_after seconds and sends again: the call succeeds', async () => {
    const telegram = fakeTelegram([tooMany(1)]);
    const bot = botWith(telegram, {});
    const started = Date.now();
    const message = await bot.api.sendMessage(ALICE.id, 'hello');
    expect(message.message_id).toBe(1);
    expect(telegram.sent.map((call) => call.method)).toEqual(['sendMessage', 'sendMessage']);
    const [first, second] = telegram.sent;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(990);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('gives up after the retry bound, and at once when retry_after exceeds the longest wait', async () => {
    const always = fakeTelegram([tooMany(1), tooMany(1), tooMany(1), tooMany(1)]);
    await expect(botWith(always, { maxRetries: 2 }).api.sendMessage(ALICE.id, 'x')).rejects.toMatchObject({
      error_code: 429,
    });
    expect(always.sent).toHaveLength(3);

    const long = fakeTelegram([tooMany(3600)]);
    const started = Date.now();
    await expect(botWith(long, { maxRetryDelaySeconds: 30 }).api.sendMessage(ALICE.id, 'x')).rejects.toMatchObject({
      error_code: 429,
    });
    expect(long.sent).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('throttler', () => {
  it('spaces a burst of 50 messages to one chat', async () => {
    const telegram = fakeTelegram();
    const bot = botWith(telegram, { privateChatIntervalMs: 20, privateChatBurst: 1, globalPerSecond: 1000 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => bot.api.sendMessage(ALICE.id, `n${i}`)));
    expect(telegram.sent).toHaveLength(50);
    // The throttler spaces the calls' starts; the requests reach the fake a little later, with some jitter on a
    // busy machine, so spacing is checked over windows of 10 calls rather than between two.
    const at = telegram.sent.map((call) => call.at);
    for (let i = 10; i < at.length; i++) expect((at[i] ?? 0) - (at[i - 10] ?? 0)).toBeGreaterThanOrEqual(10 * 17);
    expect((at.at(-1) ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(49 * 19);
  });

  it('keeps to Telegram’s defaults: a short burst, then one message a second per private chat', async () => {
    const telegram = fakeTelegram();
    const bot = botWith(telegram, {});
    await Promise.all([1, 2, 3, 4, 5].map((i) => bot.api.sendMessage(ALICE.id, `n${i}`)));
    const at = telegram.sent.map((call) => call.at);
    expect(telegram.sent.map((call) => call.text)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']); // in order
    // The first three go at once (a two- or three-message answer is not held back)...
    expect((at[2] ?? 0) - (at[0] ?? 0)).toBeLessThan(500);
    // ...then about a second apart (the requests reach the fake with a few ms of jitter).
    expect((at[3] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(900);
    expect((at[4] ?? 0) - (at[3] ?? 0)).toBeGreaterThanOrEqual(900);
  });

  it('holds bulk sends to many chats to the global rate', async () => {
    const telegram = fakeTelegram();
    const bot = botWith(telegram, { globalPerSecond: 20 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 30 }, (_, i) => bot.api.sendMessage(7_000_000 + i, 'notice')));
    // 20 in the first second, the other 10 only after the reservoir refills.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const firstSecond = telegram.sent.filter((call) => call.at - started < 900);
    expect(firstSecond.length).toBeLessThanOrEqual(20);
  });
});

describe('inside conversations (their own Api per replay)', () => {
  it('applies the retry transformer to a conversation’s reply', async () => {
    const telegram = fakeTelegram([tooMany(1)]);
    const bot = new Bot<Context>(TEST_BOT_TOKEN, {
      botInfo: TEST_BOT_INFO,
      client: { apiRoot: 'https://api.telegram.invalid', fetch: telegram.fetch as never },
    });
    installConversations(bot, {
      redis: redis.client,
      redisPrefix: redis.prefix,
      transformers: conversationTransformers({ db: database.db }),
    });
    bot.use(
      defineConversation(async (_conversation, ctx) => {
        await ctx.reply('inside');
      }, 'outgoing-test'),
    );
    bot.command('go', (ctx) => ctx.conversation.enter('outgoing-test'));
    const started = Date.now();
    await bot.handleUpdate(textMessage('/go'));
    expect(telegram.sent.filter((call) => call.method === 'sendMessage')).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });
});

describe('a person who blocked the bot', () => {
  const blockedAt = async (telegramId: number) => (await findUserByTelegramId(database.db, telegramId))?.botBlockedAt;

  it('is marked when a send gets 403 "bot was blocked by the user" or "user is deactivated"', async () => {
    const t = createTestBot({ db: database.db });
    await t.handle(textMessage('/start', ALICE));
    await t.handle(textMessage('/start', BOB));
    expect(await blockedAt(ALICE.id)).toBeNull();

    t.failNext('sendMessage', 403, 'Forbidden: bot was blocked by the user');
    await t.bot.api.sendMessage(ALICE.id, 'notice').catch(() => undefined);
    expect(await blockedAt(ALICE.id)).toBeInstanceOf(Date);

    t.failNext('sendMessage', 403, 'Forbidden: user is deactivated');
    await t.bot.api.sendMessage(BOB.id, 'notice').catch(() => undefined);
    expect(await blockedAt(BOB.id)).toBeInstanceOf(Date);
  });

  it('is not marked for other refusals (a 403 of another kind, a 400)', async () => {
    const t = createTestBot({ db: database.db });
    await t.handle(textMessage('/start', ALICE));
    t.failNext('sendMessage', 403, "Forbidden: bot can't send messages to bots");
    await t.bot.api.sendMessage(ALICE.id, 'x').catch(() => undefined);
    t.failNext('sendMessage', 400, 'Bad Request: chat not found');
    await t.bot.api.sendMessage(ALICE.id, 'x').catch(() => undefined);
    expect(await blockedAt(ALICE.id)).toBeNull();
  });

  it('is marked when a reply to their own message is refused, and the update still completes', async () => {
    const t = createTestBot({ db: database.db });
    await t.handle(textMessage('/start', ALICE));
    t.failNext('sendMessage', 403, 'Forbidden: bot was blocked by the user');
    await expect(t.handle(textMessage('/help', ALICE))).resolves.toBeUndefined();
    expect(await blockedAt(ALICE.id)).toBeInstanceOf(Date);
  });

  it('is marked by my_chat_member "kicked", cleared by "member" and by a later message', async () => {
    const t = createTestBot({ db: database.db, redis: redis.client, redisPrefix: redis.prefix });
    await upsertTelegramUser(database.db, { telegramId: ALICE.id, adminTelegramIds: [] });
    await t.handle(chatMember('kicked'));
    expect(await blockedAt(ALICE.id)).toBeInstanceOf(Date);
    await t.handle(chatMember('member'));
    expect(await blockedAt(ALICE.id)).toBeNull();

    await t.handle(chatMember('kicked'));
    expect(await blockedAt(ALICE.id)).toBeInstanceOf(Date);
    // Writing in a group proves nothing about their private chat with the bot.
    await t.handle(textMessage('hello all', ALICE, { id: -100777, type: 'supergroup', title: 'G' }));
    expect(await blockedAt(ALICE.id)).toBeInstanceOf(Date);
    await t.handle(textMessage('/help', ALICE));
    // Cleared with the next batch of people heard from (REACHABLE_FLUSH_MS), off the update's path.
    await vi.waitFor(async () => expect(await blockedAt(ALICE.id)).toBeNull(), { timeout: 5_000, interval: 50 });
  });

  it('clears marks in one batch, each only when older than the moment that person wrote', async () => {
    await upsertTelegramUser(database.db, { telegramId: ALICE.id, adminTelegramIds: [] });
    await upsertTelegramUser(database.db, { telegramId: BOB.id, adminTelegramIds: [] });
    await markBotBlocked(database.db, ALICE.id);
    await markBotBlocked(database.db, BOB.id);
    const marked = (await blockedAt(BOB.id)) as Date;
    // Alice wrote after her mark; Bob's mark (as another process may record it) is newer than his message.
    const cleared = await markBotsReachable(database.db, [
      { telegramId: ALICE.id, at: new Date(marked.getTime() + 1_000) },
      { telegramId: BOB.id, at: new Date(marked.getTime() - 1_000) },
      { telegramId: 0, at: new Date() },
    ]);
    expect(cleared).toBe(1);
    expect(await blockedAt(ALICE.id)).toBeNull();
    expect(await blockedAt(BOB.id)).toEqual(marked);
    const tooMany = Array.from({ length: REACHABLE_BATCH_MAX + 1 }, (_, i) => ({ telegramId: i + 1, at: new Date() }));
    await expect(markBotsReachable(database.db, tooMany)).rejects.toThrow(RangeError);
  });

  it('keeps the latest block: a message heard between two blocks does not clear the second', async () => {
    await upsertTelegramUser(database.db, { telegramId: ALICE.id, adminTelegramIds: [] });
    await markBotBlocked(database.db, ALICE.id);
    const first = (await blockedAt(ALICE.id)) as Date;
    await new Promise((resolve) => setTimeout(resolve, 30));
    await markBotBlocked(database.db, ALICE.id); // blocked again (as another process may record it)
    const second = (await blockedAt(ALICE.id)) as Date;
    expect(second.getTime()).toBeGreaterThan(first.getTime());
    // Her message between the two blocks, batched by some process, leaves the second block in place.
    expect(await markBotsReachable(database.db, [{ telegramId: ALICE.id, at: new Date(first.getTime() + 10) }])).toBe(
      0,
    );
    expect(await blockedAt(ALICE.id)).toEqual(second);
  });

  it('keeps a mark recorded in this process after the person wrote (they left the batch)', async () => {
    const t = createTestBot({ db: database.db, redis: redis.client, redisPrefix: redis.prefix });
    await upsertTelegramUser(database.db, { telegramId: ALICE.id, adminTelegramIds: [] });
    await markBotBlocked(database.db, ALICE.id);
    await t.handle(textMessage('/help', ALICE));
    // Before the batch goes, a send to her is refused: she blocked the bot again.
    t.failNext('sendMessage', 403, 'Forbidden: bot was blocked by the user');
    await t.bot.api.sendMessage(ALICE.id, 'notice').catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, REACHABLE_FLUSH_MS + 300));
    expect(await blockedAt(ALICE.id)).toBeInstanceOf(Date);
  });

  it('ignores a bot being kicked from a group (not a person blocking it)', async () => {
    const t = createTestBot({ db: database.db });
    await upsertTelegramUser(database.db, { telegramId: ALICE.id, adminTelegramIds: [] });
    await t.handle(chatMember('kicked', { id: -100123, type: 'supergroup', title: 'G' }));
    expect(await blockedAt(ALICE.id)).toBeNull();
  });
});

let chatMemberUpdateId = 900_000_000 + Math.floor(Math.random() * 90_000_000);
function chatMember(
  status: 'kicked' | 'member',
  chat: { id: number; type: 'private'; first_name: string } | { id: number; type: 'supergroup'; title: string } = {
    id: ALICE.id,
    type: 'private',
    first_name: ALICE.first_name,
  },
): Update {
  const bot = { id: TEST_BOT_INFO.id, is_bot: true, first_name: TEST_BOT_INFO.first_name };
  return {
    update_id: chatMemberUpdateId++,
    my_chat_member: {
      chat,
      from: { id: ALICE.id, is_bot: false, first_name: ALICE.first_name },
      date: Math.floor(Date.now() / 1000),
      old_chat_member:
        status === 'kicked' ? { status: 'member', user: bot } : { status: 'kicked', user: bot, until_date: 0 },
      new_chat_member:
        status === 'kicked' ? { status: 'kicked', user: bot, until_date: 0 } : { status: 'member', user: bot },
    },
  } as Update;
}
