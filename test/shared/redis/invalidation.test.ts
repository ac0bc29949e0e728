/**
 * Threat: a per-process cache that keeps a stale entry because an invalidation was published while its channel
 * was not subscribed. The subscription must say "lost" on every drop (the cache forgets everything), "live" only
 * once subscribed again (the cache drops what was read meanwhile), and deliver messages of its channel only.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeInvalidations } from '#shared/redis/invalidation.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let redis: TestRedis;
beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis.close();
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  expect(check()).toBe(true);
}

describe('subscribeInvalidations', () => {
  it('goes live once subscribed, delivers its channel only, and says lost then live across a reconnect', async () => {
    const channel = `${redis.prefix}:inv`;
    const events: string[] = [];
    const connection = redis.client.duplicate();
    const subscription = subscribeInvalidations(connection, channel, {
      onMessage: (message) => events.push(`message:${message}`),
      onLost: () => events.push('lost'),
      onLive: () => events.push('live'),
    });
    await until(() => subscription.isLive());
    expect(events).toEqual(['live']);

    await redis.client.publish(`${channel}-other`, 'not-mine');
    await redis.client.publish(channel, 'key-1');
    await until(() => events.includes('message:key-1'));
    expect(events).not.toContain('message:not-mine');

    events.length = 0;
    connection.disconnect(true); // drops the connection and reconnects
    await until(() => events.includes('lost'));
    expect(events[0]).toBe('lost');
    await until(() => subscription.isLive());
    expect(events.at(-1)).toBe('live');
    await redis.client.publish(channel, 'key-2');
    await until(() => events.includes('message:key-2'));

    subscription.close();
    expect(subscription.isLive()).toBe(false);
  });
});
