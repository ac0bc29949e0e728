/**
 * The notify worker and people who blocked the bot: a 403 "blocked" on a send marks the person (no retry),
 * later notices to them are skipped without a send attempt, and a message from them to the bot makes them
 * reachable again. Real database, real grammY client, fake Telegram at the fetch edge.
 */
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NotifyJob } from '#server/notify.ts';
import { notifyProcessor } from '#server/workers/notify.worker.ts';
import { findUserById, upsertTelegramUser } from '#shared/identity/users.ts';
import { ALICE, textMessage } from '#test/fixtures/updates.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
let fake: TestBot;
let userId: string;
beforeAll(async () => {
  database = await createTestDatabase();
  fake = createTestBot({ db: database.db });
  ({
    user: { id: userId },
  } = await upsertTelegramUser(database.db, { telegramId: ALICE.id, adminTelegramIds: [] }));
});
afterAll(async () => database.close());

const jobOf = <T>(data: T) => ({ data, opts: { attempts: 1 }, attemptsMade: 0 }) as unknown as Job<T, never>;

describe('notify worker and a person who blocked the bot', () => {
  it('marks the person on 403 "blocked", skips them afterwards, and sends again once they write', async () => {
    const notify = notifyProcessor({
      db: database.db,
      botToken: TEST_BOT_TOKEN,
      apiRoot: 'https://api.telegram.invalid',
      fetch: fake.fetch,
      outgoing: { throttle: false },
    });
    const notice = jobOf<NotifyJob>({ kind: 'mfa-enabled', userId });

    expect(await notify(notice as never)).toEqual({ sent: true });
    expect(fake.callsOf('sendMessage')).toHaveLength(1);

    fake.failNext('sendMessage', 403, 'Forbidden: bot was blocked by the user');
    expect(await notify(notice as never)).toEqual({ sent: false, reason: 'blocked' });
    expect(fake.callsOf('sendMessage')).toHaveLength(2);
    expect((await findUserById(database.db, userId))?.botBlockedAt).toBeInstanceOf(Date);

    // No attempt at all while marked.
    expect(await notify(notice as never)).toEqual({ sent: false, reason: 'blocked' });
    expect(fake.callsOf('sendMessage')).toHaveLength(2);

    // The person writes to the bot: reachable again, and the next notice goes out.
    await fake.handle(textMessage('/help', ALICE));
    // Cleared with the next batch of people heard from (bot/outgoing.ts REACHABLE_FLUSH_MS).
    await vi.waitFor(async () => expect((await findUserById(database.db, userId))?.botBlockedAt).toBeNull(), {
      timeout: 5_000,
      interval: 50,
    });
    const before = fake.callsOf('sendMessage').length;
    expect(await notify(notice as never)).toEqual({ sent: true });
    expect(fake.callsOf('sendMessage')).toHaveLength(before + 1);
  });
});
