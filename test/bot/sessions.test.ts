/**
 * Threat: a person who sees a sign-in they do not recognise cannot end it from Telegram, or a crafted button
 * lets someone end (or learn about) another person's sessions. /sessions lists only the tapper's own
 * sessions; every End button is checked against them, so a foreign or already-ended id just answers "gone";
 * ending works at once, follows the API's permission and is audited.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { issueNonce } from '#bot/callbacks.ts';
import { BOT_COMMANDS } from '#bot/create-bot.ts';
import { createAuditLog } from '#shared/audit/index.ts';
import type { User } from '#shared/db/schema.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { changeRole } from '#shared/identity/roles.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { createSessionStore, type SessionRecord, type SessionStore } from '#shared/tokens/sessions.ts';
import { ALICE, BOB, callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { type ApiCall, createTestBot, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

type Keyboard = { inline_keyboard: { text: string; callback_data?: string }[][] };

const TWO_HOURS_MS = 2 * 3600 * 1000;

let database: TestDatabase;
let redis: TestRedis;
let sessions: SessionStore;
/** The same store with a clock two hours behind, for sessions signed in earlier. */
let earlierSessions: SessionStore;
let t: TestBot;
let alice: User;
let bob: User;
let testNumber = 0;
let prefix = '';
beforeAll(async () => {
  [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
});
beforeEach(async () => {
  await database.truncate();
  // A key prefix per test (under the file's, which close() clears): no test sees another's sessions.
  prefix = `${redis.prefix}:${++testNumber}`;
  sessions = createSessionStore({ redis: redis.client, prefix });
  earlierSessions = createSessionStore({ redis: redis.client, prefix, now: () => Date.now() - TWO_HOURS_MS });
  alice = (await upsertTelegramUser(database.db, { telegramId: ALICE.id, languageCode: 'en', adminTelegramIds: [] }))
    .user;
  bob = (await upsertTelegramUser(database.db, { telegramId: BOB.id, languageCode: 'en', adminTelegramIds: [] })).user;
  t = createTestBot({
    db: database.db,
    sessions,
    audit: createAuditLog({ db: database.db }),
    redis: redis.client,
    redisPrefix: prefix,
  });
});
afterAll(async () => {
  await redis.close();
  await database.close();
});

function signInFor(user: User, client: string, store = sessions): Promise<SessionRecord> {
  return store
    .create({ userId: user.id, role: user.role, client, ip: '203.0.113.0/24', amr: ['tg'] })
    .then(({ session }) => session);
}

/** A single-use nonce as the bot issues them (bot/callbacks.ts): a button it could have sent earlier. */
async function issuedData(action: string, telegramId = ALICE.id): Promise<string> {
  return `${action}:${await issueNonce({ redis: redis.client, redisPrefix: prefix }, { telegramId, action })}`;
}

/** The data of the button labelled `text` in the bot's last message with a keyboard. */
function dataOf(text: string): string {
  const sent = [...t.calls].reverse().find((call) => call.payload.reply_markup);
  const data = buttonsOf(sent)
    .flat()
    .find((button) => button.text === text)?.callback_data;
  if (!data) throw new Error(`No button ${text}`);
  return data;
}

const nonced = (action: string) => expect.stringMatching(new RegExp(`^${action}:[A-Za-z0-9_-]{12}$`));

function buttonsOf(call: ApiCall | undefined): { text: string; callback_data?: string }[][] {
  return (call?.payload.reply_markup as Keyboard | undefined)?.inline_keyboard ?? [];
}

async function auditActions(user: User) {
  const rows = await database.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.subjectUserId, user.id), eq(auditLog.source, 'bot')))
    .orderBy(auditLog.seq);
  return rows.map((row) => ({ action: row.action, target: row.targetId, reason: row.reasonCode }));
}

describe('/sessions', () => {
  it('lists the person’s sessions with friendly times, an End button each and End all', async () => {
    const phone = await signInFor(alice, 'Mini App · ios', earlierSessions);
    const laptop = await signInFor(alice, 'Mini App · web');
    await signInFor(bob, 'Mini App · bob');

    await t.handle(textMessage('/sessions', ALICE));
    const [sent, ...more] = t.callsOf('sendMessage');
    expect(more).toEqual([]);
    expect(sent?.payload.chat_id).toBe(ALICE.id);
    expect(sent?.payload.text).toBe(
      [
        'Your signed-in sessions (2):',
        '1. Mini App · web: signed in now, last active now (203.0.113.0/24)',
        '2. Mini App · ios: signed in 2 hr. ago, last active 2 hr. ago (203.0.113.0/24)',
      ].join('\n'),
    );
    expect(buttonsOf(sent)).toEqual([
      [
        { text: 'End 1', callback_data: nonced(`sess:end:${laptop.id}`) },
        { text: 'End 2', callback_data: nonced(`sess:end:${phone.id}`) },
      ],
      [{ text: 'End all sessions', callback_data: nonced('sess:end-all') }],
    ]);
  });

  it('says so when there is no session, or no account', async () => {
    await t.handle(textMessage('/sessions', ALICE));
    await t.handle(textMessage('/sessions', { id: 5_000_999, first_name: 'Zoe' }));
    const sent = t.callsOf('sendMessage');
    expect(sent.map((call) => call.payload.text)).toEqual([
      'You are not signed in anywhere. Open the app from /start to sign in.',
      'You are not signed in anywhere. Open the app from /start to sign in.',
    ]);
    expect(sent.map((call) => call.payload.reply_markup)).toEqual([undefined, undefined]);
  });

  it('answers the Review sessions button of the refresh-reuse notice with the list', async () => {
    await signInFor(alice, 'Mini App · web');
    await t.handle(callbackQuery('sessions', ALICE));
    expect(t.callsOf('answerCallbackQuery')).toHaveLength(1);
    expect(String(t.callsOf('sendMessage')[0]?.payload.text)).toMatch(/^Your signed-in sessions \(1\):\n1\. Mini App/);
  });

  it('never lists sessions in a group: only a pointer to the private chat', async () => {
    await signInFor(alice, 'Mini App · web');
    await t.handle(textMessage('/sessions', ALICE, { id: -100555, type: 'supergroup', title: 'Team' }));
    // The command guard (bot/middleware/command-guard.ts): /sessions works only in a private chat.
    expect(t.callsOf('sendMessage').map((call) => call.payload.text)).toEqual([
      'This command works only in a private chat with me.',
    ]);
  });

  it('is in the command menu', () => {
    expect(BOT_COMMANDS).toContainEqual({ command: 'sessions', description: 'commands.sessions' });
  });
});

describe('ending sessions', () => {
  it('ends the tapped session at once, answers, shows the refreshed list and audits it', async () => {
    const phone = await signInFor(alice, 'Mini App · ios');
    const laptop = await signInFor(alice, 'Mini App · web');
    await t.handle(textMessage('/sessions', ALICE));
    await t.handle(callbackQuery(dataOf('End 2'), ALICE));

    expect(await sessions.get(phone.id)).toBeNull();
    expect(await sessions.get(laptop.id)).not.toBeNull();
    expect(t.callsOf('answerCallbackQuery')[0]?.payload.text).toBe('Session ended.');
    const [edit] = t.callsOf('editMessageText');
    expect(edit?.payload.text).toBe(
      'Your signed-in sessions (1):\n1. Mini App · web: signed in now, last active now (203.0.113.0/24)',
    );
    expect(
      buttonsOf(edit)
        .flat()
        .map((button) => button.callback_data),
    ).toEqual([nonced(`sess:end:${laptop.id}`), nonced('sess:end-all')]);
    expect(await auditActions(alice)).toEqual([{ action: 'session.revoke', target: phone.id, reason: null }]);
  });

  it('answers "gone" for another person’s session and leaves it alone', async () => {
    const bobs = await signInFor(bob, 'Mini App · bob');
    await signInFor(alice, 'Mini App · web');
    // Even with a nonce for it (the button itself cannot be had), the id is checked against Alice's own.
    await t.handle(callbackQuery(await issuedData(`sess:end:${bobs.id}`), ALICE));
    expect(await sessions.get(bobs.id)).not.toBeNull();
    expect(t.callsOf('answerCallbackQuery')[0]?.payload.text).toBe('That session has already ended.');
    // The refreshed list is Alice's own: nothing of Bob's shows.
    expect(String(t.callsOf('editMessageText')[0]?.payload.text)).not.toContain('bob');
    expect(await auditActions(alice)).toEqual([]);
    expect(await auditActions(bob)).toEqual([]);
  });

  it('answers "gone" for a session that has already ended, or never existed', async () => {
    const phone = await signInFor(alice, 'Mini App · ios');
    await t.handle(textMessage('/sessions', ALICE));
    const endPhone = dataOf('End 1');
    t.calls.length = 0;
    await sessions.revoke(phone.id);
    await t.handle(callbackQuery(endPhone, ALICE));
    await t.handle(callbackQuery(await issuedData(`sess:end:${'f'.repeat(36)}`), ALICE));
    expect(t.callsOf('answerCallbackQuery').map((call) => call.payload.text)).toEqual([
      'That session has already ended.',
      'That session has already ended.',
    ]);
    expect(t.callsOf('editMessageText')[0]?.payload.text).toBe(
      'You are not signed in anywhere. Open the app from /start to sign in.',
    );
  });

  it('ends every session with End all, and audits the count', async () => {
    const phone = await signInFor(alice, 'Mini App · ios');
    const laptop = await signInFor(alice, 'Mini App · web');
    const bobs = await signInFor(bob, 'Mini App · bob');
    await t.handle(textMessage('/sessions', ALICE));
    await t.handle(callbackQuery(dataOf('End all sessions'), ALICE));

    expect(await sessions.list(alice.id)).toEqual([]);
    expect(await sessions.get(phone.id)).toBeNull();
    expect(await sessions.get(laptop.id)).toBeNull();
    expect(await sessions.get(bobs.id)).not.toBeNull();
    expect(t.callsOf('answerCallbackQuery')[0]?.payload.text).toBe('Ended 2 session(s).');
    const [edit] = t.callsOf('editMessageText');
    expect(edit?.payload.text).toBe('You are not signed in anywhere. Open the app from /start to sign in.');
    expect(edit?.payload.reply_markup).toBeUndefined();
    expect(await auditActions(alice)).toEqual([{ action: 'session.revoke_all', target: 'all', reason: 'COUNT_2' }]);
  });

  it('follows the API’s permission: a readonly person sees sessions but cannot end them', async () => {
    await changeRole(database.db, { userId: alice.id, role: 'readonly' });
    const phone = await signInFor({ ...alice, role: 'readonly' }, 'Mini App · ios');
    await t.handle(textMessage('/sessions', ALICE));
    expect(buttonsOf(t.callsOf('sendMessage')[0])).toEqual([]);

    // A button from before the role change is refused as well.
    await t.handle(callbackQuery(await issuedData(`sess:end:${phone.id}`), ALICE));
    await t.handle(callbackQuery(await issuedData('sess:end-all'), ALICE));
    expect(await sessions.get(phone.id)).not.toBeNull();
    expect(t.callsOf('answerCallbackQuery').map((call) => call.payload)).toEqual([
      expect.objectContaining({ text: expect.stringMatching(/but not end them/), show_alert: true }),
      expect.objectContaining({ text: expect.stringMatching(/but not end them/), show_alert: true }),
    ]);
    expect(await auditActions(alice)).toEqual([]);
  });
});
