/**
 * Threat: a bot flooded with updates by one account; an admin alert button that anyone who sees it (a
 * forwarded message, another admin, a replayed callback) can press to lift a ban. The flood earns a throttle
 * that holds in the bot (one reply, then silence) and in the API; /decisions buttons are bound to the admin
 * they were sent to and work once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, type SignedIn, signIn } from '#test/helpers/sign-in.ts';

const ADMIN = { id: 555_000_004, first_name: 'Ada', language_code: 'en' };
const OTHER_ADMIN = { id: 555_000_005, first_name: 'Ole', language_code: 'en' };
type Keyboard = { inline_keyboard: { text: string; callback_data: string }[][] };

/** The buttons of the bot's latest message. */
function lastButtons(bot: TestBot) {
  const markup = bot.callsOf('sendMessage').at(-1)?.payload.reply_markup as Keyboard | undefined;
  return markup?.inline_keyboard.flat() ?? [];
}

let t: TestApp;
let bot: TestBot;
let flooder: SignedIn;

beforeAll(async () => {
  t = await buildTestApp({
    env: { BOT_TOKEN: TEST_BOT_TOKEN, ADMIN_TELEGRAM_IDS: `${ADMIN.id},${OTHER_ADMIN.id}` },
  });
  bot = createTestBot({
    db: t.database.db,
    defense: {
      service: t.services.defense,
      redis: t.redis.client,
      redisPrefix: t.redisPrefix,
      metrics: t.services.metrics,
    },
  });
  await signIn(t.app, ADMIN);
  await signIn(t.app, OTHER_ADMIN);
  flooder = await signIn(t.app, { id: nextTelegramId(), first_name: 'Flo' });
});
afterAll(async () => {
  await t.close();
});

describe('bot update flood', () => {
  it('throttles the account: one short reply, then silence, and the API refuses it too', async () => {
    const from = { id: flooder.telegramId, first_name: 'Flo', language_code: 'en' };
    for (let index = 0; index < 30; index += 1) await bot.handle(textMessage(`spam ${index}`, from));
    const [decision] = await t.services.defense.decisions.listActive();
    expect(decision).toMatchObject({ scenario: 'bot-update-flood', kind: 'throttle', scope: 'telegram_user' });
    expect(decision?.subjectUserId).toBe(flooder.userId);

    const texts = bot.callsOf('sendMessage').map((call) => String(call.payload.text));
    const told = texts.filter((text) => /Too many requests/.test(text));
    expect(told).toHaveLength(1);
    const before = bot.calls.length;
    for (let index = 0; index < 5; index += 1) await bot.handle(textMessage('/help', from));
    expect(bot.calls.length).toBe(before); // silence: not even a reply to /help

    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(flooder.accessToken) });
    expect(me.statusCode).toBe(429);
    expect(me.json().error.code).toBe('THROTTLED');
    expect(await t.services.metrics.scrape()).toMatch(
      /tsp_decision_enforcements_total\{edge="bot",kind="throttle"\} [1-9]/,
    );
  });
});

describe('/decisions', () => {
  it('is for admins only', async () => {
    await bot.handle(textMessage('/decisions', { id: nextTelegramId(), first_name: 'Pat', language_code: 'en' }));
    // Answered like an unknown command: nothing hints that admin commands exist.
    expect(String(bot.callsOf('sendMessage').at(-1)?.payload.text)).toContain("I didn't understand that.");
  });

  it('lists decisions with lift buttons bound to the admin, each usable once', async () => {
    await bot.handle(textMessage('/decisions', ADMIN));
    const list = bot.callsOf('sendMessage').at(-1);
    expect(String(list?.payload.text)).toMatch(/bot-update-flood: throttle on tg:…\d{3}/);
    const lift = lastButtons(bot).find((button) => button.callback_data.startsWith('dd:l:'));
    expect(lift?.callback_data).toMatch(/^dd:l:[0-9a-f-]{36}:[A-Za-z0-9_-]{16}$/);
    const data = lift?.callback_data ?? '';

    // Another admin pressing this admin's button (a forwarded message): refused, and the button is spent.
    await bot.handle(callbackQuery(data, OTHER_ADMIN));
    expect(String(bot.callsOf('answerCallbackQuery').at(-1)?.payload.text)).toMatch(/expired or was already used/);
    expect(await t.services.defense.decisions.listActive()).toHaveLength(1);

    await bot.handle(textMessage('/decisions', ADMIN));
    const fresh = lastButtons(bot).find((button) => button.callback_data.startsWith('dd:l:'));
    await bot.handle(callbackQuery(fresh?.callback_data ?? '', ADMIN));
    expect(String(bot.callsOf('answerCallbackQuery').at(-1)?.payload.text)).toMatch(/lifted/);
    expect(await t.services.defense.decisions.listActive()).toHaveLength(0);

    // A replayed tap does nothing.
    await bot.handle(callbackQuery(fresh?.callback_data ?? '', ADMIN));
    expect(String(bot.callsOf('answerCallbackQuery').at(-1)?.payload.text)).toMatch(/expired or was already used/);

    // The account is served again at both edges.
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(flooder.accessToken) });
    expect(me.statusCode).toBe(200);
  });

  it('answers a malformed button like any stale one', async () => {
    await bot.handle(callbackQuery('dd:l:not-a-uuid:AAAAAAAAAAAAAAAA', ADMIN));
    expect(String(bot.callsOf('answerCallbackQuery').at(-1)?.payload.text)).toMatch(/no longer active/);
  });
});

describe('/stats', () => {
  it('shows the KPIs computed from the audit trail', async () => {
    await bot.handle(textMessage('/stats', ADMIN));
    const text = String(bot.callsOf('sendMessage').at(-1)?.payload.text);
    // Three successful sign-ins and no failures so far in this file.
    expect(text).toMatch(/Sign-in success rate: 100\.0%/);
    expect(text).toMatch(/Failed sign-ins: 0\.0% of attempts/);
    expect(text).toMatch(/Active decisions: 0/);
  });
});
