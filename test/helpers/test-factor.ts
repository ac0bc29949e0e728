/**
 * A second factor for tests: a real implementation of the `SecondFactor` interface (passed in through deps, as
 * STYLE.md 10 allows), whose state the test sets per person: enrolled with one valid code, not enrolled, or
 * locked out. It records who was checked on which channel, never the codes presented.
 */
import { constantTimeEqual } from '#shared/crypto/random.ts';
import type { SecondFactor, SecondFactorResult } from '#shared/identity/second-factor.ts';

type FactorState = { kind: 'enrolled'; code: string } | { kind: 'locked' };

export interface TestFactor extends SecondFactor {
  /** Enrols `userId` with the one code that verifies. */
  enrol(userId: string, code: string): void;
  /** Locks `userId` out (as after too many wrong codes). */
  lock(userId: string): void;
  /** Forgets `userId` (not enrolled). */
  remove(userId: string): void;
  /** Every check made, in order. */
  checks: { userId: string; channel: 'api' | 'bot'; result: SecondFactorResult }[];
}

export function createTestFactor(): TestFactor {
  const states = new Map<string, FactorState>();
  const checks: TestFactor['checks'] = [];
  return {
    checks,
    enrol(userId, code) {
      states.set(userId, { kind: 'enrolled', code });
    },
    lock(userId) {
      states.set(userId, { kind: 'locked' });
    },
    remove(userId) {
      states.delete(userId);
    },
    async verify(userId, code, channel) {
      const state = states.get(userId);
      const result: SecondFactorResult =
        state === undefined
          ? 'not_enrolled'
          : state.kind === 'locked'
            ? 'locked'
            : constantTimeEqual(code, state.code)
              ? 'ok'
              : 'invalid';
      checks.push({ userId, channel, result });
      return result;
    },
  };
}
