/**
 * The scenario engine: every security event is offered to each scenario; matching events pour into the
 * scenario's leaky bucket in Redis (shared by every process, one atomic script per event); an overflow
 * issues a decision through the decision store, or raises an alert for alert-only scenarios.
 */
import type { Redis } from 'ioredis';
import type { Allowlist } from './allowlist.ts';
import { isAuthSuccess, type Scenario, type SecurityEvent } from './scenarios.ts';
import type { DecisionTarget, TargetHasher } from './targets.ts';

/**
 * One leaky bucket step, atomic. KEYS[1] bucket (hash: level, time), KEYS[2] distinct-values set.
 * ARGV: now ms, capacity, ms per leaked unit, distinct value ('' = count every event), key TTL ms,
 * peek ('1' = read the level without adding).
 * Returns { overflowed (1/0, -1 = value already seen), level × 1000 }.
 */
const LEAKY_BUCKET_LUA = `
local now = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local leak = tonumber(ARGV[3])
local level = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 't') or ARGV[1])
level = math.max(0, level - (now - last) / leak)
if ARGV[6] == '1' then return {0, math.floor(level * 1000)} end
if ARGV[4] ~= '' then
  local added = redis.call('SADD', KEYS[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  if added == 0 then return {-1, math.floor(level * 1000)} end
end
level = level + 1
if level > capacity then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {1, math.floor(level * 1000)}
end
redis.call('HSET', KEYS[1], 'l', tostring(level), 't', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {0, math.floor(level * 1000)}
`;

export interface Overflow {
  scenario: Scenario;
  target: DecisionTarget;
  event: SecurityEvent;
}

export interface DetectorDeps {
  redis: Redis;
  prefix: string;
  scenarios: readonly Scenario[];
  allowlist: Allowlist;
  hasher: TargetHasher;
  /** A bucket overflowed (a decision scenario). */
  onOverflow(overflow: Overflow): Promise<void>;
  /** An alert-only scenario fired (failures followed by a success). */
  onAlert(overflow: Overflow): Promise<void>;
  now?: () => number;
}

export interface Detector {
  /** Offers one event to every scenario. Never throws for a malformed event; Redis errors propagate. */
  observe(event: SecurityEvent): Promise<void>;
}

export function createDetector(deps: DetectorDeps): Detector {
  const now = deps.now ?? Date.now;
  const key = (scenario: Scenario, hash: string, part: string) =>
    `${deps.prefix}:defense:bucket:${scenario.name}:${hash}:${part}`;

  const step = async (
    scenario: Scenario,
    target: DecisionTarget,
    distinct: string,
    capacity: number,
    peek: boolean,
  ) => {
    const hash = deps.hasher(target);
    const leakMs = scenario.leakSeconds * 1000;
    // The bucket is forgotten once it has fully leaked (and the distinct set with it).
    const ttlMs = Math.ceil(leakMs * (scenario.capacity + 1));
    const result = (await deps.redis.eval(
      LEAKY_BUCKET_LUA,
      2,
      key(scenario, hash, 'b'),
      key(scenario, hash, 'd'),
      String(now()),
      String(capacity),
      String(leakMs),
      distinct,
      String(ttlMs),
      peek ? '1' : '0',
    )) as [number, number];
    return { overflowed: result[0] === 1, level: result[1] / 1000 };
  };

  return {
    async observe(event) {
      for (const scenario of deps.scenarios) {
        const alertOnly = scenario.decision === null;
        if (alertOnly && isAuthSuccess(event)) {
          const target = scenario.groupBy(event);
          if (!target || deps.allowlist.allows(target)) continue;
          const { level } = await step(scenario, target, '', Number.MAX_SAFE_INTEGER, true);
          // Rounded up: the failures leak a little between the last one and the success.
          if (Math.ceil(level) >= scenario.capacity) {
            await deps.redis.del(key(scenario, deps.hasher(target), 'b'));
            await deps.onAlert({ scenario, target, event });
          }
          continue;
        }
        if (!scenario.filter(event)) continue;
        const target = scenario.groupBy(event);
        if (!target || deps.allowlist.allows(target)) continue;
        const distinct = scenario.distinct ? scenario.distinct(event) : '';
        if (distinct === null) continue;
        // Alert-only buckets never overflow on their own: they are read when the success arrives.
        const capacity = alertOnly ? Number.MAX_SAFE_INTEGER : scenario.capacity;
        const { overflowed } = await step(scenario, target, distinct.slice(0, 128), capacity, false);
        if (overflowed) await deps.onOverflow({ scenario, target, event });
      }
    },
  };
}
