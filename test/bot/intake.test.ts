/**
 * Update intake through the real bot: Telegram's retries (the same update_id again) act once, updates sent by
 * bots are ignored, messages queued longer than the allowed age are dropped, and a Redis outage fails the update
 * rather than handling it unclaimed.
 */
import type { Update } from 'grammy/types';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { textMessage } from '#test/fixtures/updates.ts';
import { createTestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, TEST_REDIS_URL, type TestRedis } from '#test/helpers/test-redis.ts';

let database: TestDatabase;
let redis: TestRedis;

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis.close();
  await database.close();
});
beforeEach(async () => {
  await database.truncate();
});

function bot(options: { redis?: Redis; maxUpdateAgeSeconds?: number } = {}) {
  return createTestBot({
    db: database.db,
    redis: options.redis ?? redis.client,
    redisPrefix: redis.prefix,
    ...(options.maxUpdateAgeSeconds !== undefined ? { maxUpdateAgeSeconds: options.maxUpdateAgeSeconds } : {}),
  });
}

describe('update intake', () => {
  it('acts once on an update delivered twice (a webhook retry)', async () => {
    const t = bot();
    const update = textMessage('/help');
    await t.handle(update);
    await t.handle(structuredClone(update));
    expect(t.callsOf('sendMessage')).toHaveLength(1);
    await t.handle(textMessage('/help')); // a new update is handled
    expect(t.callsOf('sendMessage')).toHaveLength(2);
  });

  it('acts once when two bot processes receive the same update', async () => {
    const a = bot();
    const b = bot();
    const update = textMessage('/help');
    await Promise.all([a.handle(update), b.handle(structuredClone(update))]);
    expect(a.callsOf('sendMessage').length + b.callsOf('sendMessage').length).toBe(1);
  });

  it('ignores messages from bots', async () => {
    const t = bot();
    const update = textMessage('/help') as Update & { message: { from: { is_bot: boolean } } };
    update.message.from.is_bot = true;
    await t.handle(update);
    expect(t.calls.filter((call) => call.method !== 'getMe')).toEqual([]);
  });

  it('drops messages older than the allowed age, and handles fresh ones', async () => {
    const t = bot({ maxUpdateAgeSeconds: 60 });
    const stale = textMessage('/help') as Update & { message: { date: number } };
    stale.message.date -= 61;
    await t.handle(stale);
    expect(t.callsOf('sendMessage')).toHaveLength(0);
    const recent = textMessage('/help') as Update & { message: { date: number } };
    recent.message.date -= 50;
    await t.handle(recent);
    expect(t.callsOf('sendMessage')).toHaveLength(1);
  });

  it('fails the update, without acting, when Redis cannot claim it', async () => {
    const down = new Redis(TEST_REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const t = bot({ redis: down });
    await expect(t.handle(textMessage('/help'))).rejects.toThrow();
    expect(t.callsOf('sendMessage')).toHaveLength(0);
    down.disconnect();
  });
});
