/**
 * Sessions end on their own: after 30 days unused (sliding) and after 90 days in any case (absolute), so a
 * stolen refresh token cannot keep an account open forever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore, SESSION_ABSOLUTE_SECONDS, SESSION_IDLE_SECONDS } from '#shared/tokens/sessions.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

const DAY = 24 * 3600 * 1000;
let redis: TestRedis;
let clock = Date.now();
beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis.close();
});

const store = () => createSessionStore({ redis: redis.client, prefix: redis.prefix, now: () => clock });
const ttlDays = async (sid: string) => (await redis.client.pttl(`${redis.prefix}:sess:${sid}`)) / DAY;

describe('session lifetime', () => {
  it('expires 30 days after the last use, extended by each refresh, never beyond 90 days', async () => {
    clock = Date.now();
    const sessions = store();
    const { session, refreshToken } = await sessions.create({
      userId: 'u1',
      role: 'user',
      client: 'test',
      ip: '',
      amr: ['tg'],
    });
    expect(SESSION_IDLE_SECONDS).toBe(30 * 24 * 3600);
    expect(await ttlDays(session.id)).toBeCloseTo(30, 1);

    // 80 days later (still within the absolute lifetime, refreshed often enough): the idle window is cut at 90.
    clock += 80 * DAY;
    const refreshed = await sessions.refresh(refreshToken);
    expect(refreshed.ok).toBe(true);
    if (!refreshed.ok) return;
    // EXPIREAT is absolute: the key now lives until created + 90 days, i.e. about 90 - 0 real days from now.
    expect(await ttlDays(session.id)).toBeCloseTo(SESSION_ABSOLUTE_SECONDS / 86_400, 1);

    // Past the absolute end, refresh is refused and the session ends.
    clock += 11 * DAY;
    const late = await sessions.refresh(refreshed.refreshToken);
    expect(late).toEqual({ ok: false, reason: 'REFRESH_TOKEN_EXPIRED' });
    expect(await sessions.isActive(session.id)).toBe(false);
  });

  it('bounds the number of sessions per person, ending the least recently used', async () => {
    clock = Date.now();
    const sessions = store();
    const created: string[] = [];
    for (let i = 0; i < 52; i++) {
      clock += 1000;
      created.push(
        (await sessions.create({ userId: 'u2', role: 'user', client: `c${i}`, ip: '', amr: ['tg'] })).session.id,
      );
    }
    const left = await sessions.list('u2');
    expect(left).toHaveLength(50);
    expect(left.map((s) => s.id)).not.toContain(created[0]);
    expect(left.map((s) => s.id)).toContain(created[51]);
  });
});
