/**
 * Threat model of second-factor lockout.
 *
 * - Online guessing. A 6-digit TOTP accepted within ±1 step has 3 valid values in 10^6 at any moment; an
 *   attacker who has the first factor (a stolen Telegram session, an API access token, a sign-in challenge)
 *   could otherwise try codes as fast as the API answers. The leaky bucket allows 5 wrong codes, then locks
 *   verification for 15 minutes and doubles each further lock remembered within a day (capped at 24 h): the
 *   expected time to guess a code grows to years, while a person who mistypes a few times is never locked
 *   (the bucket drains one failure every 3 minutes).
 * - Lockout as denial of service. If locks were per person, anyone holding only an API session (or a sign-in
 *   challenge from a leaked initData) could keep the owner locked out of everything. Locks are per
 *   (person, channel): failures on `api` never lock the `bot` channel, where the owner can still verify,
 *   disable MFA or see what is happening.
 * - Lock extension by noise. Failures while locked change nothing: a lock ends when it says it ends.
 * - Silent attacks. Each lockout is a security event in the audit trail and a Telegram notice to the owner
 *   (tested with the service in test/server/mfa/mfa.lockout-events.test.ts).
 * - Atomicity. The bucket is updated by one Lua script, so parallel wrong codes cannot slip past the limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLockout,
  LEAK_SECONDS,
  LOCKOUT_SECONDS,
  LOCKOUT_THRESHOLD,
  type Lockout,
  MAX_LOCKOUT_SECONDS,
} from '#shared/mfa/lockout.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

let redis: TestRedis;
let clock = Date.UTC(2030, 0, 1);
let lockout: Lockout;
let nextUser = 0;
const newUser = () => `00000000-0000-4000-8000-${String(++nextUser).padStart(12, '0')}`;
const advance = (seconds: number) => {
  clock += seconds * 1000;
};

beforeAll(async () => {
  redis = await createTestRedis();
  lockout = createLockout({ redis: redis.client, prefix: redis.prefix, now: () => clock });
});
afterAll(async () => {
  await redis.close();
});

async function failTimes(user: string, channel: 'api' | 'bot', times: number) {
  let last: Awaited<ReturnType<Lockout['fail']>> | undefined;
  for (let index = 0; index < times; index++) last = await lockout.fail(user, channel);
  return last;
}

describe('second-factor lockout', () => {
  it('locks for 15 minutes on the 5th wrong code in a row, and not before', async () => {
    const user = newUser();
    const fourth = await failTimes(user, 'api', LOCKOUT_THRESHOLD - 1);
    expect(fourth?.locked).toBe(false);
    const fifth = await lockout.fail(user, 'api');
    expect(fifth).toMatchObject({ justLocked: true, locked: true, lockouts: 1 });
    expect(fifth.lockedUntil).toBe(clock + LOCKOUT_SECONDS * 1000);
    expect((await lockout.check(user, 'api')).locked).toBe(true);
    advance(LOCKOUT_SECONDS - 1);
    expect((await lockout.check(user, 'api')).locked).toBe(true);
    advance(1);
    expect((await lockout.check(user, 'api')).locked).toBe(false);
  });

  it('doubles the lock on each repeat lockout, up to the cap', async () => {
    const user = newUser();
    const expected = [1, 2, 4, 8, 16, 32, 64, 128].map((factor) =>
      Math.min(LOCKOUT_SECONDS * factor, MAX_LOCKOUT_SECONDS),
    );
    for (const [index, seconds] of expected.entries()) {
      const outcome = await failTimes(user, 'api', LOCKOUT_THRESHOLD);
      expect(outcome?.justLocked).toBe(true);
      expect(outcome?.lockouts).toBe(index + 1);
      expect(outcome?.lockedUntil).toBe(clock + seconds * 1000);
      advance(seconds);
    }
    expect(expected.at(-1)).toBe(MAX_LOCKOUT_SECONDS);
  });

  it('does not extend a lock with more wrong codes while locked', async () => {
    const user = newUser();
    const locked = await failTimes(user, 'api', LOCKOUT_THRESHOLD);
    advance(60);
    const during = await failTimes(user, 'api', 20);
    expect(during).toMatchObject({ justLocked: false, locked: true, lockedUntil: locked?.lockedUntil, lockouts: 1 });
  });

  it('locks on 5 wrong codes typed over a minute (the bucket drains whole failures only)', async () => {
    const user = newUser();
    for (let index = 0; index < LOCKOUT_THRESHOLD - 1; index++) {
      expect((await lockout.fail(user, 'api')).locked).toBe(false);
      advance(15);
    }
    expect((await lockout.fail(user, 'api')).justLocked).toBe(true);
  });

  it('drains one failure per 3 minutes: after a pause, more wrong codes are allowed', async () => {
    const user = newUser();
    await failTimes(user, 'api', LOCKOUT_THRESHOLD - 1);
    advance(2 * LEAK_SECONDS);
    expect((await failTimes(user, 'api', 2))?.locked).toBe(false);
    expect((await lockout.fail(user, 'api')).justLocked).toBe(true);
  });

  it('leaks: a failure every 3 minutes never locks (a person who mistypes now and then)', async () => {
    const user = newUser();
    for (let index = 0; index < 20; index++) {
      expect((await lockout.fail(user, 'api')).locked).toBe(false);
      advance(LEAK_SECONDS);
    }
  });

  it('locks only the channel the wrong codes came from', async () => {
    const user = newUser();
    await failTimes(user, 'api', LOCKOUT_THRESHOLD);
    expect((await lockout.check(user, 'api')).locked).toBe(true);
    expect((await lockout.check(user, 'bot')).locked).toBe(false);
    expect((await lockout.fail(user, 'bot')).locked).toBe(false);
  });

  it('empties the bucket on a correct code (earlier mistakes do not add up)', async () => {
    const user = newUser();
    await failTimes(user, 'bot', LOCKOUT_THRESHOLD - 1);
    await lockout.succeed(user, 'bot');
    expect((await failTimes(user, 'bot', LOCKOUT_THRESHOLD - 1))?.locked).toBe(false);
  });

  it('cannot be raced past the limit by parallel wrong codes', async () => {
    const user = newUser();
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => lockout.fail(user, 'api')));
    expect(outcomes.filter((outcome) => outcome.justLocked)).toHaveLength(1);
    expect(outcomes.filter((outcome) => !outcome.locked)).toHaveLength(LOCKOUT_THRESHOLD - 1);
  });

  it('expires its keys (nothing lingers after the escalation memory)', async () => {
    const user = newUser();
    await lockout.fail(user, 'api');
    const ttl = await redis.client.pttl(`${redis.prefix}:mfa:lock:${user}:api`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(24 * 3600 * 1000);
  });
});
