/**
 * Threat: an attacker banned at one edge carries on at the other (banned in the API, still driving the bot),
 * or a person banned by a machine has no way to reach a human (GDPR Art. 22(3)). A signed-in person walks
 * through ids in the API until the user-enumeration scenario bans them; the ban then holds for every API
 * route, from any address, and in the bot for the same Telegram account (one reply, then silence), while
 * the review request stays open to them.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defenseDecisions } from '#shared/db/schema-defense.ts';
import { callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { bearer, nextTelegramId, type SignedIn, signIn, withSecondFactor } from '#test/helpers/sign-in.ts';
import { noticesOf } from './helpers.ts';

const ADMIN_TELEGRAM_ID = 555_000_002;
let t: TestApp;
let bot: TestBot;
let eve: SignedIn;
let adminId: string;

beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, ADMIN_TELEGRAM_IDS: String(ADMIN_TELEGRAM_ID) } });
  bot = createTestBot({
    db: t.database.db,
    defense: { service: t.services.defense, redis: t.redis.client, redisPrefix: t.redisPrefix },
  });
  adminId = (await signIn(t.app, { id: ADMIN_TELEGRAM_ID, first_name: 'Admin' })).userId;
  eve = await signIn(t.app, { id: nextTelegramId(), first_name: 'Eve' });
});
afterAll(async () => {
  await t.close();
});

const probe = (id: string) =>
  t.app.inject({
    method: 'DELETE',
    url: `/api/v1/sessions/${id}`,
    headers: bearer(eve.accessToken),
    remoteAddress: '198.51.100.77',
  });

describe('a ban earned in the API', () => {
  it('is earned by distinct missing ids, not by one stale link retried', async () => {
    for (let attempt = 0; attempt < 25; attempt += 1) expect((await probe('stale-link')).statusCode).toBe(404);
    expect(await t.database.db.select().from(defenseDecisions)).toHaveLength(0);
    for (let index = 0; index < 20; index += 1) expect((await probe(`guess-${index}`)).statusCode).toBe(404);
    expect(await t.database.db.select().from(defenseDecisions)).toHaveLength(0);
    expect((await probe('guess-20')).statusCode).toBe(404); // the 21st distinct id overflows the bucket
    // Scenarios run after the event is recorded, off the request's path: wait for the decision to land.
    await vi.waitFor(async () => expect(await t.database.db.select().from(defenseDecisions)).toHaveLength(1), {
      timeout: 10_000,
      interval: 50,
    });
    const [decision] = await t.database.db.select().from(defenseDecisions);
    expect(decision).toMatchObject({
      scenario: 'user-enumeration',
      kind: 'ban',
      scope: 'user',
      subjectUserId: eve.userId,
      automated: true,
    });
  });

  it('holds for every API route and from any address', async () => {
    for (const remoteAddress of ['198.51.100.77', '203.0.113.200']) {
      const me = await t.app.inject({
        method: 'GET',
        url: '/api/v1/me',
        headers: bearer(eve.accessToken),
        remoteAddress,
      });
      expect(me.statusCode).toBe(403);
      expect(me.json().error.code).toBe('ACCESS_SUSPENDED');
    }
    // Others are unaffected.
    const other = await signIn(t.app, { id: nextTelegramId(), first_name: 'Ann' });
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(other.accessToken) })).statusCode,
    ).toBe(200);
  });

  it('holds in the bot for the same Telegram account: one reply, then silence', async () => {
    const from = { id: eve.telegramId, first_name: 'Eve', language_code: 'en' };
    await bot.handle(textMessage('/help', from));
    const replies = bot.callsOf('sendMessage');
    expect(replies).toHaveLength(1);
    expect(String(replies[0]?.payload.text)).toMatch(/paused/);
    const markup = replies[0]?.payload.reply_markup as { inline_keyboard: { callback_data: string }[][] };
    expect(markup.inline_keyboard[0]?.[0]?.callback_data).toMatch(/^dd:r:[0-9a-f-]{36}$/);

    await bot.handle(textMessage('/help', from));
    await bot.handle(textMessage('hello?', from));
    expect(bot.callsOf('sendMessage')).toHaveLength(1);

    // Someone else still gets answers.
    await bot.handle(textMessage('/help', { id: nextTelegramId(), first_name: 'Ann', language_code: 'en' }));
    expect(bot.callsOf('sendMessage')).toHaveLength(2);
  });

  it('leaves the person a way to a human review, in the API and in the bot', async () => {
    const mine = await t.app.inject({ method: 'GET', url: '/api/v1/decisions', headers: bearer(eve.accessToken) });
    expect(mine.statusCode).toBe(200);
    const [decision] = mine.json().decisions as { id: string; automated: boolean; target: string }[];
    expect(decision?.automated).toBe(true);
    expect(decision?.target).toMatch(/^user:[0-9a-f]{8}…$/);

    const from = { id: eve.telegramId, first_name: 'Eve', language_code: 'en' };
    await bot.handle(callbackQuery(`dd:r:${decision?.id}`, from));
    const answer = bot.callsOf('answerCallbackQuery').at(-1);
    expect(String(answer?.payload.text)).toMatch(/admin will review/);
    const [row] = await t.database.db
      .select()
      .from(defenseDecisions)
      .where(eq(defenseDecisions.id, decision?.id ?? ''));
    expect(row?.reviewRequestedAt).toBeInstanceOf(Date);
    // Admins hear about the request (with fresh buttons).
    const alerts = (await noticesOf(t, 'defense-decision')).filter((job) => job.decisionId === decision?.id);
    expect(alerts.filter((job) => job.userId === adminId).length).toBeGreaterThanOrEqual(2);

    // Someone else's decision cannot be reviewed by Eve.
    const review = await t.app.inject({
      method: 'POST',
      url: '/api/v1/decisions/00000000-0000-4000-8000-000000000000/review',
      headers: bearer(eve.accessToken),
    });
    expect(review.statusCode).toBe(404);
  });

  it('ends when an admin lifts it, at both edges', async () => {
    const admin = await withSecondFactor(t, await signIn(t.app, { id: ADMIN_TELEGRAM_ID, first_name: 'Admin' }));
    const [decision] = await t.database.db.select().from(defenseDecisions);
    const lifted = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/decisions/${decision?.id}`,
      headers: bearer(admin.accessToken),
    });
    expect(lifted.statusCode).toBe(204);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(eve.accessToken) })).statusCode,
    ).toBe(200);
    const before = bot.callsOf('sendMessage').length;
    await bot.handle(textMessage('/help', { id: eve.telegramId, first_name: 'Eve', language_code: 'en' }));
    expect(bot.callsOf('sendMessage').length).toBe(before + 1);
  });
});
