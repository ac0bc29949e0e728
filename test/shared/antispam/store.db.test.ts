/**
 * The Redis store behind the bot's anti-spam: the same figures as the memory store (windows, fingerprints
 * across chats and people, joins, warnings), shared by every process, with no message text kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAntispam,
  createRedisAntispamStore,
  DEFAULT_ANTISPAM_CONFIG,
  type SpamMessage,
} from '#shared/antispam/index.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let redis: TestRedis;
beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis?.close();
});

const T0 = 1_800_000_000_000;
const msg = (text: string, chatId: number, userId: number, atMs: number): SpamMessage => ({
  chatId,
  userId,
  chatType: 'supergroup',
  atMs,
  text,
});

describe('Redis anti-spam store', () => {
  it('counts messages per person and per chat in the flood windows', async () => {
    const store = createRedisAntispamStore(redis.client, `${redis.prefix}-a`, DEFAULT_ANTISPAM_CONFIG);
    let seen = await store.observe({ chatId: -1, userId: 1, atMs: T0, fingerprint: '' });
    for (let i = 1; i < 6; i += 1)
      seen = await store.observe({ chatId: -1, userId: 1, atMs: T0 + i * 100, fingerprint: '' });
    expect(seen).toMatchObject({ userMessages: 6, chatMessages: 6, isNewMember: false, warnings: 0 });
    const other = await store.observe({ chatId: -1, userId: 2, atMs: T0 + 700, fingerprint: '' });
    expect(other).toMatchObject({ userMessages: 1, chatMessages: 7 });
    // The next window starts again.
    const later = await store.observe({ chatId: -1, userId: 1, atMs: T0 + 20_000, fingerprint: '' });
    expect(later.userMessages).toBe(1);
  });

  it('finds near-duplicates by one person across chats and by many people across chats', async () => {
    const prefix = `${redis.prefix}-b`;
    const antispam = createAntispam(
      DEFAULT_ANTISPAM_CONFIG,
      createRedisAntispamStore(redis.client, prefix, DEFAULT_ANTISPAM_CONFIG),
    );
    const text = 'Our new project pays rewards to early members, register today and get your bonus before launch';
    expect((await antispam.check(msg(text, -10, 50, T0))).reasons).toEqual([]);
    const cross = await antispam.check(msg(`${text} 🎁`, -11, 50, T0 + 30_000));
    expect(cross.reasons).toContain('DUPLICATE_CROSS_CHAT');
    await antispam.check(msg(text.replace('today', 'now'), -12, 51, T0 + 60_000));
    const wave = await antispam.check(msg(`${text} https://x.example/r/9`, -13, 52, T0 + 90_000));
    expect(wave.reasons).toContain('DUPLICATE_WAVE');
    // Only fingerprints are stored, never the text.
    const keys = await redis.client.keys(`${prefix}:*`);
    for (const key of keys) {
      const type = await redis.client.type(key);
      const values = type === 'list' ? await redis.client.lrange(key, 0, -1) : [String(await redis.client.get(key))];
      for (const value of values) expect(value).not.toMatch(/project|rewards/);
    }
  });

  it('treats a member as new for their first messages after a join, and counts warnings', async () => {
    const config = {
      ...DEFAULT_ANTISPAM_CONFIG,
      newMember: { ...DEFAULT_ANTISPAM_CONFIG.newMember, firstMessages: 2 },
    };
    const store = createRedisAntispamStore(redis.client, `${redis.prefix}-c`, config);
    await store.recordJoin(-20, 60, T0);
    expect((await store.observe({ chatId: -20, userId: 60, atMs: T0 + 1_000, fingerprint: '' })).isNewMember).toBe(
      true,
    );
    expect((await store.observe({ chatId: -20, userId: 60, atMs: T0 + 2_000, fingerprint: '' })).isNewMember).toBe(
      true,
    );
    expect((await store.observe({ chatId: -20, userId: 60, atMs: T0 + 3_000, fingerprint: '' })).isNewMember).toBe(
      false,
    );
    expect((await store.observe({ chatId: -20, userId: 61, atMs: T0 + 3_000, fingerprint: '' })).isNewMember).toBe(
      false,
    );
    expect(await store.addWarning(-20, 60)).toBe(1);
    expect(await store.addWarning(-20, 60)).toBe(2);
    expect((await store.observe({ chatId: -20, userId: 60, atMs: T0 + 4_000, fingerprint: '' })).warnings).toBe(2);
    await store.clearWarnings(-20, 60);
    expect((await store.observe({ chatId: -20, userId: 60, atMs: T0 + 5_000, fingerprint: '' })).warnings).toBe(0);
  });
});
