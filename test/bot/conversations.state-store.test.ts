/**
 * Threat: a person's answer to the bot's question handled as an ordinary message (their conversation lost)
 * because a process remembered that they had none. Two stores stand for two bot processes on one Redis: a write
 * or delete through either must be seen by the other at its next read after the pub/sub message, a read that an
 * invalidation overtook is not remembered, and nothing is remembered while the channel is not subscribed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConversationStateStore, createConversationStateStore } from '#bot/conversations/state-store.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let redis: TestRedis;
let first: ConversationStateStore;
let second: ConversationStateStore;
const subscribers: Redis[] = [];

beforeAll(async () => {
  redis = await createTestRedis();
  const cache = {
    createSubscriber: () => {
      const connection = redis.client.duplicate();
      subscribers.push(connection);
      return connection;
    },
  };
  first = createConversationStateStore({ redis: redis.client, redisPrefix: redis.prefix, cache });
  second = createConversationStateStore({ redis: redis.client, redisPrefix: redis.prefix, cache });
  await sleep(100); // both subscriptions live
});
afterAll(async () => {
  await first.close();
  await second.close();
  await redis.close();
});

let person = 0;
const keyOf = () => `${redis.prefix}:conv:${++person}`;

/** Waits until `check` holds (pub/sub delivery), failing after a second. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error('condition not met within 1 s');
}

describe('conversation state across processes', () => {
  it('remembers an absence (no Redis read) until a write through any store', async () => {
    const key = keyOf();
    expect(await second.read(key)).toBeNull();
    // Written behind the stores' back: the remembered absence still answers.
    await redis.client.set(key, '{"direct":true}');
    expect(await second.read(key)).toBeNull();
    // A write through the other process's store drops it there.
    await first.write(key, '{"step":1}', 60);
    await eventually(async () => (await second.read(key)) === '{"step":1}');
    // The writer itself never answers from a stale absence.
    expect(await first.read(key)).toBe('{"step":1}');
    expect(await redis.client.ttl(key)).toBeGreaterThan(50);
  });

  it('never remembers a state, only its absence', async () => {
    const key = keyOf();
    await first.write(key, '{"step":1}', 60);
    expect(await second.read(key)).toBe('{"step":1}');
    await redis.client.set(key, '{"step":2}');
    expect(await second.read(key)).toBe('{"step":2}');
  });

  it('a delete through one store is seen by the other', async () => {
    const key = keyOf();
    await first.write(key, '{"step":1}', 60);
    expect(await second.read(key)).toBe('{"step":1}');
    await first.delete(key);
    expect(await second.read(key)).toBeNull();
    expect(await redis.client.exists(key)).toBe(0);
  });

  it('does not remember an absence read while its own write was in flight', async () => {
    const key = keyOf();
    const [read] = await Promise.all([second.read(key), second.write(key, '{"step":1}', 60)]);
    expect(read === null || read === '{"step":1}').toBe(true);
    expect(await second.read(key)).toBe('{"step":1}');
  });

  it('remembers nothing while its subscription is down, and again once it is back', async () => {
    const key = keyOf();
    const [, secondSubscriber] = subscribers;
    secondSubscriber?.disconnect(true); // drops and reconnects: messages meanwhile would be lost
    expect(await second.read(key)).toBeNull();
    await redis.client.set(key, '{"direct":true}'); // no message: only a fresh read can see it
    expect(await second.read(key)).toBe('{"direct":true}');
    await redis.client.del(key);
    await eventually(async () => {
      // Back and subscribed: an absence is remembered again.
      expect(await second.read(key)).toBeNull();
      await redis.client.set(key, '{"probe":true}');
      const remembered = (await second.read(key)) === null;
      await redis.client.del(key);
      return remembered;
    });
  });

  it('a write through a store that keeps no cache is still seen by the stores that do', async () => {
    const plain = createConversationStateStore({ redis: redis.client, redisPrefix: redis.prefix });
    const key = keyOf();
    expect(await second.read(key)).toBeNull(); // remembered
    await plain.write(key, '{"step":1}', 60);
    await eventually(async () => (await second.read(key)) === '{"step":1}');
    await plain.delete(key);
    await eventually(async () => (await second.read(key)) === null);
    await plain.close();
  });

  it('without a subscriber, reads Redis every time', async () => {
    const plain = createConversationStateStore({ redis: redis.client, redisPrefix: redis.prefix });
    const key = keyOf();
    expect(await plain.read(key)).toBeNull();
    await redis.client.set(key, '{"direct":true}');
    expect(await plain.read(key)).toBe('{"direct":true}');
    await plain.close();
  });
});
