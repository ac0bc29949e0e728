/**
 * Threat: a stolen Telegram session (an unlocked phone, a hijacked account) of an admin runs admin commands.
 * Every admin command and admin button in the bot asks for a fresh second factor first; after a good code the
 * admin runs it again and, for 10 minutes, is not asked again. People who are not admins get the reply of an
 * unknown command, with no hint that admin commands exist, and are never asked for a code.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { ALICE, callbackQuery, type FixtureUser, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { codeNow, nextStep, useTestClock } from '../server/mfa/mfa-helpers.ts';

let t: TestApp;
let nextId = 7_300_000;

beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

function bot(): TestBot {
  return createTestBot({
    db: t.database.db,
    redis: t.redis.client,
    redisPrefix: t.redisPrefix,
    mfa: t.services.mfa,
    defense: { service: t.services.defense, redis: t.redis.client, redisPrefix: t.redisPrefix },
  });
}

async function person(role: 'admin' | 'user'): Promise<{ user: FixtureUser; secret: string }> {
  const user = { ...ALICE, id: ++nextId };
  const { user: row } = await upsertTelegramUser(t.database.db, {
    telegramId: user.id,
    adminTelegramIds: role === 'admin' ? [user.id] : [],
  });
  const { secret } = await t.services.mfa.startEnrolment(row.id, String(user.id));
  expect((await t.services.mfa.confirmEnrolment(row.id, await codeNow(secret), 'api')).ok).toBe(true);
  nextStep();
  return { user, secret };
}

const texts = (recorder: TestBot) => recorder.callsOf('sendMessage').map((call) => String(call.payload.text));

describe('admin commands in the bot need a fresh second factor', () => {
  it('asks an admin for a code, then runs the command for the next 10 minutes without asking', async () => {
    const recorder = bot();
    const { user, secret } = await person('admin');
    await recorder.handle(textMessage('/stats', user));
    expect(texts(recorder).at(-1)).toContain('Enter the code');
    const code = textMessage(await codeNow(secret), user);
    await recorder.handle(code);
    expect(recorder.callsOf('deleteMessage').map((call) => Number(call.payload.message_id))).toContain(
      code.message?.message_id,
    );
    expect(texts(recorder).at(-1)).toContain('Verified for 10 minutes');
    const before = texts(recorder).length;
    await recorder.handle(textMessage('/stats', user));
    expect(texts(recorder).length).toBe(before + 1);
    expect(texts(recorder).at(-1)).not.toContain('Enter the code');
    expect(texts(recorder).at(-1)).not.toContain("didn't understand");
  });

  it('asks again on an admin button when the last code is too old', async () => {
    const recorder = bot();
    const { user } = await person('admin');
    await recorder.handle(callbackQuery('scan:run', user));
    expect(recorder.callsOf('answerCallbackQuery')).toHaveLength(1);
    expect(texts(recorder).at(-1)).toContain('Enter the code');
  });

  it('answers a user who tries an admin command like an unknown command, without asking for a code', async () => {
    const recorder = bot();
    const { user } = await person('user');
    await recorder.handle(textMessage('/stats', user));
    const all = texts(recorder);
    expect(all.some((text) => text.includes('Enter the code'))).toBe(false);
    expect(all.at(-1)).toContain("didn't understand");
  });
});
