/**
 * Threat: spam in a group the bot moderates (scams from fresh accounts, floods, bots joining to post links), and
 * people abusing moderation itself (a member trying /ban, someone pressing another person's "I'm human" button
 * or an admin alert's buttons). Updates go through the real webhook endpoint; the Bot API calls the bot makes
 * are captured, and each action leaves an audit row with ids and reason codes only.
 */
import { eq } from 'drizzle-orm';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_ANTISPAM_CONFIG } from '#shared/antispam/index.ts';
import { type AuditLog, createAuditLog } from '#shared/audit/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { telegramAccountPseudonym } from '#shared/identity/users.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let updateId = 700_000_000 + Math.floor(Math.random() * 100_000_000);
let messageId = 1;
let callbackId = 1;
let nextChat = -1_009_000_000_000 - Math.floor(Math.random() * 1_000_000);

type Person = { id: number; first_name: string; language_code?: string };
type Group = { id: number; type: 'supergroup'; title: string };

const ADMIN: Person = { id: 6_100_001, first_name: 'Ada', language_code: 'en' };
let people = 6_200_000;
function person(name: string): Person {
  people += 1;
  return { id: people, first_name: name, language_code: 'en' };
}
function group(): Group {
  nextChat -= 1;
  return { id: nextChat, type: 'supergroup', title: 'Neighbours' };
}

function groupMessage(text: string, from: Person, chat: Group, extra: Record<string, unknown> = {}): Update {
  const command = /^\/[a-z]+/.exec(text);
  return {
    update_id: updateId++,
    message: {
      message_id: messageId++,
      date: Math.floor(Date.now() / 1000),
      from: { is_bot: false, ...from },
      chat,
      text,
      ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command[0].length }] } : {}),
      ...extra,
    },
  } as Update;
}

function reply(text: string, from: Person, chat: Group, to: Update): Update {
  return groupMessage(text, from, chat, { reply_to_message: to.message });
}

function joinUpdate(member: Person, chat: Group): Update {
  return {
    update_id: updateId++,
    chat_member: {
      chat,
      from: { is_bot: false, ...member },
      date: Math.floor(Date.now() / 1000),
      old_chat_member: { status: 'left', user: { is_bot: false, ...member } },
      new_chat_member: { status: 'member', user: { is_bot: false, ...member } },
    },
  } as Update;
}

function tap(data: string, from: Person, chat: Group): Update {
  return {
    update_id: updateId++,
    callback_query: {
      id: String(callbackId++),
      from: { is_bot: false, ...from },
      chat_instance: '-88123',
      data,
      message: { message_id: messageId++, date: Math.floor(Date.now() / 1000), chat, text: 'bot message' },
    },
  } as Update;
}

let database: TestDatabase;
let redis: TestRedis;
let audit: AuditLog;
let t: TestApp;
let bot: TestBot;
let dryBot: TestBot;

const config = { ...DEFAULT_ANTISPAM_CONFIG, joinChallengeSeconds: 60, muteSeconds: 600 };

async function post(update: Update): Promise<void> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/telegram/webhook',
    headers: { 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret },
    payload: update as object,
  });
  expect(response.statusCode).toBe(200);
}

/** Calls of `method` made while `run` ran. */
async function callsDuring(target: TestBot, run: () => Promise<void>) {
  const before = target.calls.length;
  await run();
  return target.calls.slice(before);
}

/** How the audit trail names a member of a chat: a keyed pseudonym stands for their Telegram id. */
const memberRef = (chatId: number, telegramId: number) =>
  `c${chatId}:u${telegramAccountPseudonym(database.db, telegramId)}`;
async function auditRows(action: string) {
  return database.db.select().from(auditLog).where(eq(auditLog.action, action));
}

/** Whether a restrictChatMember call lets the member send messages. */
const canSend = (call: { payload: Record<string, unknown> } | undefined) =>
  (call?.payload.permissions as { can_send_messages?: boolean } | undefined)?.can_send_messages;

type Keyboard = { inline_keyboard: { text: string; callback_data: string }[][] };
const buttonsOf = (call: { payload: Record<string, unknown> } | undefined) =>
  (call?.payload.reply_markup as Keyboard | undefined)?.inline_keyboard.flat() ?? [];

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await createTestRedis();
  audit = createAuditLog({ db: database.db });
  bot = createTestBot({ db: database.db, redis: redis.client, redisPrefix: redis.prefix, audit, antispam: config });
  dryBot = createTestBot({
    db: database.db,
    redis: redis.client,
    redisPrefix: `${redis.prefix}-dry`,
    audit,
    antispam: { ...config, dryRun: true },
  });
  t = await buildTestApp({
    database,
    redis,
    redisPrefix: redis.prefix,
    bot: bot.bot,
    env: { BOT_MODE: 'webhook' },
  });
});
afterAll(async () => {
  await t?.close();
  await redis?.close();
  await database?.close();
});

describe('automatic moderation in a group', () => {
  it('warns an established member for a spam-like message: deleted, alert with reason, audited without text', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const member = person('Sam');
    const calls = await callsDuring(bot, () =>
      post(groupMessage('Looking for partners, good passive income, write me for details', member, chat)),
    );
    const deleted = calls.find((call) => call.method === 'deleteMessage');
    expect(deleted?.payload).toMatchObject({ chat_id: chat.id });
    expect(calls.some((call) => call.method === 'restrictChatMember' || call.method === 'banChatMember')).toBe(false);
    const alert = calls.find((call) => call.method === 'sendMessage');
    expect(String(alert?.payload.text)).toMatch(/warned \(1\/3\)[\s\S]*Reason: looks like spam/);
    expect(buttonsOf(alert).map((b) => b.text)).toEqual(['⛔ Ban', 'Dismiss']);
    const [row] = await auditRows('antispam.warn');
    expect(row).toMatchObject({
      actorType: 'system',
      actorId: 'bot:antispam',
      reasonCode: 'SPAM_CONTENT',
      targetType: 'telegram_member',
      // A keyed pseudonym stands for the member: their Telegram id is never written to the audit trail.
      targetId: memberRef(chat.id, member.id),
      source: 'bot',
      details: null,
    });
    expect(JSON.stringify(await database.db.select().from(auditLog))).not.toContain(String(member.id));
  });

  it('mutes a member for strong spam, with the mute ending after ANTISPAM_MUTE_SECONDS', async () => {
    const chat = group();
    const member = person('Max');
    const calls = await callsDuring(bot, () =>
      post(groupMessage('Work from home and earn $500 per day, write me', member, chat)),
    );
    const mute = calls.find((call) => call.method === 'restrictChatMember');
    expect(mute?.payload).toMatchObject({ chat_id: chat.id, user_id: member.id });
    expect(canSend(mute)).toBe(false);
    const until = Number(mute?.payload.until_date);
    expect(until - Date.now() / 1000).toBeGreaterThan(590);
    expect(until - Date.now() / 1000).toBeLessThan(610);
    expect(calls.some((call) => call.method === 'deleteMessage')).toBe(true);
    expect((await auditRows('antispam.mute')).some((row) => row.targetId === memberRef(chat.id, member.id))).toBe(true);
  });

  it('bans a brand-new member whose first message is a scam', async () => {
    const chat = group();
    const member = person('Newbie');
    // Joined without a challenge in this chat? The challenge restricts; the message is judged all the same.
    await post(joinUpdate(member, chat));
    const calls = await callsDuring(bot, () =>
      post(groupMessage('FREE crypto airdrop 🚀 claim your reward: https://claim-now.xyz', member, chat)),
    );
    expect(calls.find((call) => call.method === 'banChatMember')?.payload).toMatchObject({
      chat_id: chat.id,
      user_id: member.id,
    });
    const [row] = (await auditRows('antispam.ban')).filter((r) => r.targetId === memberRef(chat.id, member.id));
    expect(row?.reasonCode).toBe('NEW_MEMBER_LINK');
  });

  it('deletes a new member’s link but leaves an ordinary member’s link alone', async () => {
    const chat = group();
    const fresh = person('Fresh');
    const regular = person('Regular');
    await post(joinUpdate(fresh, chat));
    const first = await callsDuring(bot, () =>
      post(groupMessage('Nice group, see my page https://example.org/about', fresh, chat)),
    );
    expect(first.some((call) => call.method === 'deleteMessage')).toBe(true);
    expect(first.some((call) => call.method === 'banChatMember')).toBe(false);
    const second = await callsDuring(bot, () =>
      post(groupMessage('The docs are here: https://example.org/about', regular, chat)),
    );
    expect(second.filter((call) => call.method !== 'getChatAdministrators')).toEqual([]);
  });

  it('mutes a flood: the sixth message in ten seconds', async () => {
    const chat = group();
    const member = person('Flo');
    const calls = await callsDuring(bot, async () => {
      for (let i = 0; i < 6; i += 1) await post(groupMessage(`message ${i}`, member, chat));
    });
    const mutes = calls.filter((call) => call.method === 'restrictChatMember');
    expect(mutes).toHaveLength(1);
    expect(
      (await auditRows('antispam.mute')).find((r) => r.targetId === memberRef(chat.id, member.id))?.reasonCode,
    ).toBe('FLOOD_USER');
  });

  it('keeps its own alerts within Telegram’s group limits during a raid', async () => {
    const chat = group();
    const raiders = Array.from({ length: 7 }, (_, i) => person(`Raider${i}`));
    const calls = await callsDuring(bot, async () => {
      for (const raider of raiders) {
        await post(joinUpdate(raider, chat));
        await post(groupMessage('join us https://example.org/chat', raider, chat));
      }
    });
    expect(calls.filter((call) => call.method === 'deleteMessage')).toHaveLength(7);
    const alerts = calls.filter((call) => call.method === 'sendMessage' && /Reason:/.test(String(call.payload.text)));
    expect(alerts).toHaveLength(5);
  }, 180_000);

  it('judges a message again when it is edited into spam', async () => {
    const chat = group();
    const member = person('Editor');
    const original = groupMessage('Looking for a flatmate', member, chat);
    await post(original);
    const edited = {
      update_id: updateId++,
      edited_message: {
        ...original.message,
        edit_date: Math.floor(Date.now() / 1000),
        text: 'Work from home and earn $500 per day, write me',
      },
    } as Update;
    const calls = await callsDuring(bot, () => post(edited));
    expect(calls.find((call) => call.method === 'deleteMessage')?.payload).toMatchObject({
      message_id: original.message?.message_id,
    });
  });

  it('never judges the group’s admins', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const calls = await callsDuring(bot, () =>
      post(groupMessage('Work from home and earn $500 per day, write me', ADMIN, chat)),
    );
    expect(calls.filter((call) => call.method !== 'getChatAdministrators')).toEqual([]);
  });
});

describe('dry run', () => {
  it('reports what it would do without deleting, restricting or banning', async () => {
    const chat = group();
    const member = person('Dry');
    const calls = await callsDuring(dryBot, () =>
      dryBot.handle(groupMessage('Work from home and earn $500 per day, write me', member, chat)),
    );
    expect(calls.map((call) => call.method)).not.toContain('deleteMessage');
    expect(calls.map((call) => call.method)).not.toContain('restrictChatMember');
    expect(calls.map((call) => call.method)).not.toContain('banChatMember');
    const alert = calls.find((call) => call.method === 'sendMessage');
    expect(String(alert?.payload.text)).toMatch(/^🧪 Dry run, nothing was done\..*would be message deleted and muted/s);
    expect((await auditRows('antispam.would_mute')).some((r) => r.targetId === memberRef(chat.id, member.id))).toBe(
      true,
    );
    // A join in dry run restricts nobody either.
    const joiner = person('Joiner');
    const joinCalls = await callsDuring(dryBot, () => dryBot.handle(joinUpdate(joiner, chat)));
    expect(joinCalls.map((call) => call.method)).not.toContain('restrictChatMember');
  });
});

describe('join challenge', () => {
  async function join(chat: Group, member: Person) {
    const calls = await callsDuring(bot, () => post(joinUpdate(member, chat)));
    const restrict = calls.find((call) => call.method === 'restrictChatMember');
    expect(restrict?.payload).toMatchObject({ chat_id: chat.id, user_id: member.id });
    expect(canSend(restrict)).toBe(false);
    const prompt = calls.find((call) => call.method === 'sendMessage');
    const [human] = buttonsOf(prompt);
    expect(human?.callback_data).toMatch(new RegExp(`^as:h:${chat.id}:[A-Za-z0-9_-]{12}$`));
    return human?.callback_data ?? '';
  }

  it('lifts the restriction when the new member presses in time, and refuses anyone else', async () => {
    const chat = group();
    const member = person('Nina');
    const stranger = person('Stranger');
    const data = await join(chat, member);

    const refused = await callsDuring(bot, () => post(tap(data, stranger, chat)));
    expect(refused.some((call) => call.method === 'restrictChatMember')).toBe(false);
    expect(String(refused.find((c) => c.method === 'answerCallbackQuery')?.payload.text)).toMatch(/no longer active/);

    const passed = await callsDuring(bot, () => post(tap(data, member, chat)));
    const lift = passed.find((call) => call.method === 'restrictChatMember');
    expect(lift?.payload).toMatchObject({ chat_id: chat.id, user_id: member.id });
    expect(canSend(lift)).toBe(true);
    expect(passed.some((call) => call.method === 'deleteMessage')).toBe(true);
    expect(
      (await auditRows('antispam.challenge_passed')).some((r) => r.targetId === memberRef(chat.id, member.id)),
    ).toBe(true);

    // The same button again does nothing (single use).
    const replay = await callsDuring(bot, () => post(tap(data, member, chat)));
    expect(replay.some((call) => call.method === 'restrictChatMember')).toBe(false);
  });

  it('keeps a member who did not press in time restricted', async () => {
    const quick = createTestBot({
      db: database.db,
      redis: redis.client,
      redisPrefix: `${redis.prefix}-quick`,
      audit,
      antispam: { ...config, joinChallengeSeconds: 1 },
    });
    const chat = group();
    const member = person('Late');
    const calls = await callsDuring(quick, () => quick.handle(joinUpdate(member, chat)));
    const data = buttonsOf(calls.find((call) => call.method === 'sendMessage'))[0]?.callback_data ?? '';
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    // The late tap is refused; the chat's next update (here the tap itself) clears the stale prompt.
    const late = await callsDuring(quick, async () => {
      await quick.handle(tap(data, member, chat));
      await quick.handle(groupMessage('hello all', person('Other'), chat));
    });
    expect(late.some((call) => call.method === 'restrictChatMember')).toBe(false);
    expect(String(late.find((c) => c.method === 'answerCallbackQuery')?.payload.text)).toMatch(/no longer active/);
    expect(late.filter((call) => call.method === 'deleteMessage')).toHaveLength(1);
    expect(
      (await auditRows('antispam.challenge_failed')).some((r) => r.targetId === memberRef(chat.id, member.id)),
    ).toBe(true);
  });
});

describe('/ban, /mute, /warn by the group’s admins', () => {
  it('bans the author of the replied message when a chat admin sends /ban', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const offender = person('Troll');
    const offending = groupMessage('you are all idiots', offender, chat);
    await post(offending);
    const calls = await callsDuring(bot, () => post(reply('/ban', ADMIN, chat, offending)));
    expect(calls.find((call) => call.method === 'banChatMember')?.payload).toMatchObject({
      chat_id: chat.id,
      user_id: offender.id,
    });
    expect(calls.find((call) => call.method === 'deleteMessage')?.payload).toMatchObject({
      message_id: offending.message?.message_id,
    });
    expect(String(calls.find((call) => call.method === 'sendMessage')?.payload.text)).toMatch(/was banned by an admin/);
    const [row] = (await auditRows('antispam.ban')).filter((r) => r.targetId === memberRef(chat.id, offender.id));
    expect(row).toMatchObject({ reasonCode: 'ADMIN', actorType: 'system', actorId: 'bot:chat_admin' });
  });

  it('does nothing when a member who is not an admin sends /ban, and records a security event', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const offender = person('Victim');
    const wannabe = person('Wannabe');
    const offending = groupMessage('hello there', offender, chat);
    await post(offending);
    const securityEvents = async () =>
      (await database.db.select().from(auditLog)).filter(
        (r) => r.result === 'denied' && r.action.startsWith('security.'),
      );
    const before = (await securityEvents()).length;
    const calls = await callsDuring(bot, () => post(reply('/ban', wannabe, chat, offending)));
    for (const method of ['banChatMember', 'restrictChatMember', 'deleteMessage', 'sendMessage']) {
      expect(calls.map((call) => call.method)).not.toContain(method);
    }
    const denied = await securityEvents();
    expect(denied.length).toBeGreaterThan(before);
    expect(denied.at(-1)?.reasonCode).toMatch(/CHAT_ADMIN_REQUIRED/);
  });

  it('warns, and the third warning mutes', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const offender = person('Wes');
    const texts: string[] = [];
    const mutes: unknown[] = [];
    for (let i = 0; i < 3; i += 1) {
      const offending = groupMessage(`off-topic ${i}`, offender, chat);
      await post(offending);
      const calls = await callsDuring(bot, () => post(reply('/warn', ADMIN, chat, offending)));
      texts.push(String(calls.find((call) => call.method === 'sendMessage')?.payload.text));
      mutes.push(...calls.filter((call) => call.method === 'restrictChatMember'));
    }
    expect(texts[0]).toMatch(/warning 1 of 3/);
    expect(texts[1]).toMatch(/warning 2 of 3/);
    expect(texts[2]).toMatch(/reached 3 warnings and is muted/);
    expect(mutes).toHaveLength(1);
  });

  it('asks for a reply when /mute is sent on its own', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const calls = await callsDuring(bot, () => post(groupMessage('/mute', ADMIN, chat)));
    expect(String(calls.find((call) => call.method === 'sendMessage')?.payload.text)).toMatch(
      /Reply to the message you want to act on with \/mute/,
    );
    expect(calls.map((call) => call.method)).not.toContain('restrictChatMember');
  });
});

describe('alert buttons', () => {
  it('let a chat admin ban from the alert once; a member pressing them changes nothing', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const member = person('Spammy');
    const calls = await callsDuring(bot, () =>
      post(groupMessage('Looking for partners, good passive income, write me for details', member, chat)),
    );
    const ban = buttonsOf(calls.find((call) => call.method === 'sendMessage')).find((b) => b.text === '⛔ Ban');
    expect(ban?.callback_data).toMatch(/^as:a:ban:[A-Za-z0-9_-]{12}$/);
    const data = ban?.callback_data ?? '';

    const byMember = await callsDuring(bot, () => post(tap(data, person('Nosy'), chat)));
    expect(byMember.map((call) => call.method)).not.toContain('banChatMember');
    expect(String(byMember.find((c) => c.method === 'answerCallbackQuery')?.payload.text)).toMatch(/Only admins/);
    expect((await auditRows('security.moderation_denied')).length).toBeGreaterThan(0);

    const byAdmin = await callsDuring(bot, () => post(tap(data, ADMIN, chat)));
    expect(byAdmin.find((call) => call.method === 'banChatMember')?.payload).toMatchObject({ user_id: member.id });

    const again = await callsDuring(bot, () => post(tap(data, ADMIN, chat)));
    expect(again.map((call) => call.method)).not.toContain('banChatMember');
    expect(String(again.find((c) => c.method === 'answerCallbackQuery')?.payload.text)).toMatch(/already handled/);
  });

  it('let a chat admin unmute a muted member from the alert, which clears their warnings', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const member = person('Muted');
    const calls = await callsDuring(bot, () =>
      post(groupMessage('Work from home and earn $500 per day, write me', member, chat)),
    );
    const buttons = buttonsOf(calls.find((call) => call.method === 'sendMessage'));
    expect(buttons.map((b) => b.text)).toEqual(['⛔ Ban', '🔊 Unmute', 'Dismiss']);
    const unmute = buttons.find((b) => b.text === '🔊 Unmute')?.callback_data ?? '';
    const done = await callsDuring(bot, () => post(tap(unmute, ADMIN, chat)));
    const lift = done.find((call) => call.method === 'restrictChatMember');
    expect(lift?.payload).toMatchObject({ chat_id: chat.id, user_id: member.id });
    expect(canSend(lift)).toBe(true);
    expect(String(done.find((c) => c.method === 'answerCallbackQuery')?.payload.text)).toMatch(/Unmuted by an admin/);
    expect((await auditRows('antispam.unmute')).some((r) => r.targetId === memberRef(chat.id, member.id))).toBe(true);
  });

  it('rejects forged alert data', async () => {
    const chat = group();
    bot.setChatAdmins(chat.id, [ADMIN.id]);
    const calls = await callsDuring(bot, () => post(tap('as:a:ban:../../etc', ADMIN, chat)));
    expect(calls.map((call) => call.method)).not.toContain('banChatMember');
    expect(String(calls.find((c) => c.method === 'answerCallbackQuery')?.payload.text)).toMatch(/no longer active/);
  });
});

describe('private chats: per-person rate limit (@grammyjs/ratelimiter, in Redis)', () => {
  it('answers the first update over the limit once, then drops the rest; others are unaffected', async () => {
    const limited = createTestBot({
      db: database.db,
      redis: redis.client,
      redisPrefix: `${redis.prefix}-rl`,
      audit,
      antispam: { ...config, rateLimit: { limit: 3, seconds: 10 } },
    });
    const hasty = person('Hasty');
    const privateMessage = (from: Person, text: string): Update =>
      ({
        update_id: updateId++,
        message: {
          message_id: messageId++,
          date: Math.floor(Date.now() / 1000),
          from: { is_bot: false, ...from },
          chat: { id: from.id, type: 'private', first_name: from.first_name },
          text,
        },
      }) as Update;
    const calls = await callsDuring(limited, async () => {
      for (let i = 0; i < 6; i += 1) await limited.handle(privateMessage(hasty, `hello ${i}`));
    });
    const texts = calls.filter((call) => call.method === 'sendMessage').map((call) => String(call.payload.text));
    expect(texts).toHaveLength(4);
    expect(texts.slice(0, 3).every((text) => /didn't understand/.test(text))).toBe(true);
    expect(texts[3]).toMatch(/sending messages too fast/);
    // Counted in Redis under the bot's prefix, so every process shares the count.
    expect(await redis.client.exists(`${redis.prefix}-rl:rl:${hasty.id}`)).toBe(1);
    const calm = await callsDuring(limited, () => limited.handle(privateMessage(person('Calm'), 'hello')));
    expect(calm.filter((call) => call.method === 'sendMessage')).toHaveLength(1);
  });

  it('counts a larger limit locally, still exactly at the limit, and adds every update to Redis', async () => {
    const limited = createTestBot({
      db: database.db,
      redis: redis.client,
      redisPrefix: `${redis.prefix}-rl2`,
      audit,
      // Local counts go to Redis once a second, so the check below that they have not gone yet does not depend on
      // five updates being handled within the default 50 ms on a busy machine.
      antispam: { ...config, rateLimit: { limit: 20, seconds: 60, flushMs: 1_000 } },
    });
    const busy = person('Busy');
    const privateMessage = (text: string): Update =>
      ({
        update_id: updateId++,
        message: {
          message_id: messageId++,
          date: Math.floor(Date.now() / 1000),
          from: { is_bot: false, ...busy },
          chat: { id: busy.id, type: 'private', first_name: busy.first_name },
          text,
        },
      }) as Update;
    const key = `${redis.prefix}-rl2:rl:${busy.id}`;
    const calls = await callsDuring(limited, async () => {
      for (let i = 0; i < 5; i += 1) await limited.handle(privateMessage(`hello ${i}`));
    });
    expect(calls.filter((call) => call.method === 'sendMessage')).toHaveLength(5);
    // Only the window's first update was counted in Redis before it was let through; the rest follow in a batch.
    expect(Number(await redis.client.get(key))).toBeLessThan(5);
    await vi.waitFor(async () => expect(Number(await redis.client.get(key))).toBe(5), { timeout: 5_000 });
    const rest = await callsDuring(limited, async () => {
      for (let i = 5; i < 24; i += 1) await limited.handle(privateMessage(`hello ${i}`));
    });
    const texts = rest.filter((call) => call.method === 'sendMessage').map((call) => String(call.payload.text));
    expect(texts).toHaveLength(16); // updates 6 to 20, then one "slow down", then silence
    expect(texts.slice(0, 15).every((text) => /didn't understand/.test(text))).toBe(true);
    expect(texts[15]).toMatch(/sending messages too fast/);
    await vi.waitFor(async () => expect(Number(await redis.client.get(key))).toBe(24), { timeout: 5_000 });
  });
});
