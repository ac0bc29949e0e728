/**
 * Threat: a ban that one process enforces and another does not (an attacker spreads requests over replicas),
 * a lifted ban that keeps biting somewhere, or a repeat offender who gets the same short ban every time.
 * Two decision stores on one database and one Redis prefix stand for two processes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deriveKey } from '#shared/crypto/hash.ts';
import { createDecisionStore, type DecisionStore } from '#shared/defense/decisions.ts';
import { createTargetHasher } from '#shared/defense/targets.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let database: TestDatabase;
let redis: TestRedis;
let first: DecisionStore;
let second: DecisionStore;
const hasher = createTargetHasher(deriveKey(Buffer.alloc(32, 7), 'defense-target-v1'));
const ip = (value: string) => hasher({ scope: 'ip', value });

function open(): DecisionStore {
  return createDecisionStore({
    db: database.db,
    redis: redis.client,
    createSubscriber: () => redis.createBullConnection(),
    prefix: redis.prefix,
    hasher,
    random: () => 0.5, // no jitter: durations are exact
  });
}

async function eventually(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await createTestRedis();
  first = open();
  second = open();
  await first.start();
  await second.start();
});
afterAll(async () => {
  await first.close();
  await second.close();
  await redis.close();
  await database.close();
});
beforeEach(async () => {
  for (const decision of await first.listActive()) await first.lift(decision.id, null);
});

describe('decision store', () => {
  it('reaches every process through pub/sub, and a lift does too', async () => {
    const { decision, created } = await first.issue({
      scenario: 'request-flood',
      kind: 'ban',
      target: { scope: 'ip', value: '203.0.113.10' },
      reason: 'REQUEST_FLOOD',
      automated: true,
      baseSeconds: 600,
      maxSeconds: 3600,
    });
    expect(created).toBe(true);
    expect(decision.target).toBe('ip4:203.0.113.x');
    expect(first.match([ip('203.0.113.10')])?.id).toBe(decision.id);
    await eventually(() => second.match([ip('203.0.113.10')])?.id === decision.id);
    expect(second.match([ip('203.0.113.11')])).toBeUndefined();

    await second.lift(decision.id, null);
    await eventually(() => first.match([ip('203.0.113.10')]) === undefined);
  });

  it('groups an IPv6 /64 into one target', async () => {
    await first.issue({
      scenario: 'api-key-stuffing',
      kind: 'ban',
      target: { scope: 'ip', value: '2001:db8:7:7::1' },
      reason: 'API_KEY_STUFFING',
      automated: true,
      baseSeconds: 600,
      maxSeconds: 3600,
    });
    expect(first.match([ip('2001:db8:7:7:abcd::99')])).toBeDefined();
    expect(first.match([ip('2001:db8:7:8::1')])).toBeUndefined();
  });

  it('escalates: each repeat offence doubles the duration', async () => {
    const target = { scope: 'ip', value: '198.51.100.20' } as const;
    const input = {
      scenario: 'token-replay',
      kind: 'ban' as const,
      target,
      reason: 'TOKEN_REPLAY',
      automated: true,
      baseSeconds: 600,
      maxSeconds: 86_400,
    };
    const durations: number[] = [];
    for (let offence = 0; offence < 3; offence += 1) {
      const { decision } = await first.issue(input);
      expect(decision.offenceLevel).toBe(offence);
      durations.push(Math.round((decision.expiresAt.getTime() - decision.createdAt.getTime()) / 1000));
      await first.lift(decision.id, null);
    }
    expect(durations).toEqual([600, 1200, 2400]);
  });

  it('does not stack a second decision of the same kind on an active one', async () => {
    const input = {
      scenario: 'request-flood',
      kind: 'throttle' as const,
      target: { scope: 'user', value: '11111111-2222-4333-8444-555555555555' } as const,
      reason: 'REQUEST_FLOOD',
      automated: true,
      baseSeconds: 60,
      maxSeconds: 600,
    };
    const a = await first.issue(input);
    const b = await second.issue(input);
    expect(b.created).toBe(false);
    expect(b.decision.id).toBe(a.decision.id);
  });

  it('heals a missed message from the Redis mirror on resync', async () => {
    const third = open(); // never started: it missed everything
    await first.issue({
      scenario: 'manual',
      kind: 'ban',
      target: { scope: 'chat', value: '-100123' },
      reason: 'SPAM',
      automated: false,
      durationSeconds: 300,
    });
    expect(third.match([hasher({ scope: 'chat', value: '-100123' })])).toBeUndefined();
    await third.resync();
    expect(third.match([hasher({ scope: 'chat', value: '-100123' })])?.kind).toBe('ban');
  });

  it('prefers a ban over a throttle when both apply', async () => {
    const user = { scope: 'user', value: '21111111-2222-4333-8444-555555555555' } as const;
    const keyed = { scope: 'api_key', value: '31111111-2222-4333-8444-555555555555' } as const;
    await first.issue({
      scenario: 'manual',
      kind: 'throttle',
      target: user,
      reason: 'X',
      automated: false,
      durationSeconds: 300,
    });
    await first.issue({
      scenario: 'manual',
      kind: 'ban',
      target: keyed,
      reason: 'X',
      automated: false,
      durationSeconds: 300,
    });
    expect(first.match([hasher(user), hasher(keyed)])?.kind).toBe('ban');
  });
});
