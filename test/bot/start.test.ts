/**
 * The bot's first contact: /start registers the user with the least data possible and answers with
 * buttons; /help, unknown text and stale buttons always get a short, polite answer; groups are not spammed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { users } from '#shared/db/schema.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { ALICE, BOB, callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { createTestBot, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
let t: TestBot;
beforeAll(async () => {
  database = await createTestDatabase();
});
beforeEach(async () => {
  await database.truncate();
  t = createTestBot({ db: database.db, adminTelegramIds: [BOB.id], publicUrl: 'https://sec.example.com' });
});
afterAll(async () => {
  await database.close();
});

type Keyboard = { inline_keyboard: { text: string; callback_data?: string; web_app?: { url: string } }[][] };

describe('/start', () => {
  it('registers the user (Telegram id and language only) and welcomes them with buttons', async () => {
    await t.handle(textMessage('/start', ALICE));
    const row = await findUserByTelegramId(database.db, ALICE.id);
    expect(row).toMatchObject({ telegramId: ALICE.id, role: 'user', languageCode: 'en' });

    const [sent] = t.callsOf('sendMessage');
    expect(sent?.payload.chat_id).toBe(ALICE.id);
    expect(String(sent?.payload.text)).toMatch(/^Hi Alice! I keep your Telegram account/);
    const keyboard = sent?.payload.reply_markup as Keyboard;
    const buttons = keyboard.inline_keyboard.flat();
    expect(buttons).toContainEqual({
      text: 'Open security settings',
      web_app: { url: 'https://sec.example.com/app/' },
    });
    expect(buttons).toContainEqual({ text: 'Help', callback_data: 'help' });
  });

  it('says welcome back on a second /start, and stores nothing twice', async () => {
    await t.handle(textMessage('/start', ALICE));
    await t.handle(textMessage('/start', ALICE));
    expect(String(t.callsOf('sendMessage')[1]?.payload.text)).toMatch(/^Welcome back, Alice\./);
    expect(await database.db.select().from(users)).toHaveLength(1);
  });

  it('makes a bootstrap admin an admin', async () => {
    await t.handle(textMessage('/start', BOB));
    const row = await findUserByTelegramId(database.db, BOB.id);
    expect(row?.role).toBe('admin');
    expect(row?.languageCode).toBe('pt-br');
  });

  it('omits the Mini App button without an https PUBLIC_URL (Telegram refuses http Mini Apps)', async () => {
    const local = createTestBot({ db: database.db });
    await local.handle(textMessage('/start', ALICE));
    const [sent] = local.callsOf('sendMessage');
    expect(sent).toBeDefined();
    const buttons = (sent?.payload.reply_markup as Keyboard | undefined)?.inline_keyboard.flat() ?? [];
    expect(buttons.map((button) => button.text)).toEqual(['Help']);
    expect(buttons.some((button) => button.web_app)).toBe(false);
  });

  it('does not register anyone from a group /start: a hint points to the private chat instead', async () => {
    await t.handle(textMessage('/start', ALICE, { id: -100123, type: 'supergroup', title: 'Team' }));
    expect(await database.db.select().from(users)).toHaveLength(0);
    // The command guard (bot/middleware/command-guard.ts): /start works only in a private chat.
    const sent = t.callsOf('sendMessage');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.payload).toMatchObject({
      chat_id: -100123,
      text: 'This command works only in a private chat with me.',
    });
  });
});

describe('/help and the unhandled feature', () => {
  it('answers /help and the Help button', async () => {
    await t.handle(textMessage('/help'));
    await t.handle(callbackQuery('help'));
    const texts = t.callsOf('sendMessage').map((call) => String(call.payload.text));
    expect(texts).toHaveLength(2);
    for (const text of texts) expect(text).toMatch(/^Here is what I can do:/);
    expect(t.callsOf('answerCallbackQuery')).toHaveLength(1);
  });

  it('answers unknown text politely in private chats and stays quiet in groups', async () => {
    await t.handle(textMessage('what is this?'));
    await t.handle(textMessage('hello all', ALICE, { id: -100777, type: 'supergroup', title: 'Team' }));
    const sent = t.callsOf('sendMessage');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.payload.text).toBe("I didn't understand that. Send /help to see what I can do.");
  });

  it('answers a stale button so the client stops spinning', async () => {
    await t.handle(callbackQuery('menu:gone'));
    expect(t.callsOf('answerCallbackQuery')[0]?.payload.text).toBe('This button is no longer active.');
  });
});

describe('error boundary', () => {
  it('replies politely when a feature fails, and the bot keeps working', async () => {
    const broken = await createTestDatabase();
    const failing = createTestBot({ db: broken.db });
    await broken.close(); // the database goes away under the bot
    await failing.handle(textMessage('/start'));
    const [reply] = failing.callsOf('sendMessage');
    expect(String(reply?.payload.text)).toMatch(/Something went wrong on our side|can’t reach one of my services/);
    await failing.handle(textMessage('/help'));
    expect(String(failing.callsOf('sendMessage')[1]?.payload.text)).toMatch(/^Here is what I can do:/);
  });

  it('survives Telegram refusing the reply (user blocked the bot)', async () => {
    t.failNext('sendMessage', 403, 'Forbidden: bot was blocked by the user');
    await expect(t.handle(textMessage('/help'))).resolves.toBeUndefined();
  });
});
