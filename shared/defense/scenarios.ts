/**
 * The shipped intrusion-detection scenarios (CrowdSec's model): each is a leaky bucket over security events,
 * with a filter, a group-by key, a capacity and a leak rate, optionally counting only distinct values of a
 * field (enumeration). When a bucket overflows, the scenario issues a decision (or only alerts).
 * `DEFENSE_SCENARIOS` overrides capacity, leak and base duration per scenario, or turns one off.
 */
import type { DecisionKind, DecisionTarget } from './targets.ts';

/** What a scenario sees: an audit event's fields, with the raw address (never stored) and extra ids. */
export interface SecurityEvent {
  action: string;
  result: 'success' | 'failure' | 'denied' | 'error' | string;
  reasonCode?: string | undefined;
  actor?: { type: string; id?: string | undefined } | undefined;
  subjectUserId?: string | null | undefined;
  ip?: string | undefined;
  target?: { type: string; id: string } | null | undefined;
  telegramId?: number | undefined;
  chatId?: number | undefined;
  /** The face it came through (bot, api, ...). */
  source?: string | undefined;
}

export const SCENARIO_NAMES = [
  'mfa-bruteforce',
  'api-key-stuffing',
  'token-replay',
  'request-flood',
  'bot-update-flood',
  'user-enumeration',
  'failures-then-success',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface ScenarioDecision {
  kind: DecisionKind;
  /** First offence duration; doubles per repeat offence up to `maxSeconds` (fail2ban's bantime.increment). */
  baseSeconds: number;
  maxSeconds: number;
}

export interface Scenario {
  name: ScenarioName;
  /** Which events pour into the bucket. */
  filter(event: SecurityEvent): boolean;
  /** The bucket (and the decision's target); null skips the event. */
  groupBy(event: SecurityEvent): DecisionTarget | null;
  /** Count only new values of this field (enumeration); null means count every event. */
  distinct?: ((event: SecurityEvent) => string | null) | undefined;
  /** Events the bucket holds; the next one overflows it. */
  capacity: number;
  /** Seconds for one event to leak out. */
  leakSeconds: number;
  /** null: alert only. */
  decision: ScenarioDecision | null;
}

const MINUTE = 60;
const HOUR = 3600;
/** Longest automated decision: a day. Longer bans are an admin's call, not a bucket's. */
const MAX_AUTOMATED_SECONDS = 24 * HOUR;

const userOf = (event: SecurityEvent): string | null =>
  event.subjectUserId ?? (event.actor?.type === 'user' ? (event.actor.id ?? null) : null);
const ipTarget = (event: SecurityEvent): DecisionTarget | null => (event.ip ? { scope: 'ip', value: event.ip } : null);
/** The signed-in caller when there is one, else the address. */
const callerTarget = (event: SecurityEvent): DecisionTarget | null => {
  const user = userOf(event);
  if (user) return { scope: 'user', value: user };
  if (event.actor?.type === 'api_key' && event.actor.id) return { scope: 'api_key', value: event.actor.id };
  return ipTarget(event);
};

/** Failures of a second factor: step-up, MFA sign-in, MFA management. */
const isSecondFactorFailure = (event: SecurityEvent) =>
  event.result === 'failure' &&
  (event.action === 'auth.step_up' || event.action.startsWith('auth.mfa') || event.action.startsWith('mfa.')) &&
  event.reasonCode !== 'SECOND_FACTOR_NOT_ENROLLED';

/** Sign-in failures of any method (for failures-then-success). */
const isAuthFailure = (event: SecurityEvent) =>
  event.result === 'failure' && (event.action.startsWith('auth.') || event.action.startsWith('mfa.'));

/** The defaults (OWASP Authentication Cheat Sheet; NIST SP 800-63B 5.2.2 allows at most 100 failed codes). */
export const DEFAULT_SCENARIOS: readonly Scenario[] = [
  {
    name: 'mfa-bruteforce',
    filter: isSecondFactorFailure,
    groupBy: (event) => {
      const user = userOf(event);
      return user ? { scope: 'user', value: user } : null;
    },
    // A person mistypes a code or two; five wrong in a few minutes is guessing (1e6 codes, 3 valid per window).
    capacity: 5,
    leakSeconds: 2 * MINUTE,
    decision: { kind: 'factor_lockout', baseSeconds: 15 * MINUTE, maxSeconds: MAX_AUTOMATED_SECONDS },
  },
  {
    name: 'api-key-stuffing',
    filter: (event) => event.action === 'auth.api_key' && event.result === 'failure',
    groupBy: ipTarget,
    // Distinct keys: one client retrying its own revoked key is not stuffing; many different keys are.
    distinct: (event) => event.target?.id ?? null,
    capacity: 10,
    leakSeconds: MINUTE,
    decision: { kind: 'ban', baseSeconds: 15 * MINUTE, maxSeconds: MAX_AUTOMATED_SECONDS },
  },
  {
    name: 'token-replay',
    filter: (event) =>
      event.action === 'auth.refresh_reuse' ||
      (event.action === 'auth.login' && event.reasonCode === 'INIT_DATA_REPLAYED'),
    groupBy: ipTarget,
    // A replay is never an accident more than once: a flaky client may resend once.
    capacity: 1,
    leakSeconds: 10 * MINUTE,
    decision: { kind: 'ban', baseSeconds: 15 * MINUTE, maxSeconds: MAX_AUTOMATED_SECONDS },
  },
  {
    name: 'request-flood',
    filter: (event) => event.action === 'defense.rate_limited',
    groupBy: callerTarget,
    // Each event is a request refused by the rate limiter: a client that keeps going after 429s is a flood.
    capacity: 30,
    leakSeconds: 2,
    decision: { kind: 'throttle', baseSeconds: 5 * MINUTE, maxSeconds: 6 * HOUR },
  },
  {
    name: 'bot-update-flood',
    filter: (event) => event.action === 'bot.update_flood',
    groupBy: (event) =>
      event.telegramId !== undefined ? { scope: 'telegram_user', value: String(event.telegramId) } : null,
    // Events come from the bot middleware's local counter, one per update beyond its burst allowance.
    capacity: 10,
    leakSeconds: 3,
    decision: { kind: 'throttle', baseSeconds: 5 * MINUTE, maxSeconds: 6 * HOUR },
  },
  {
    name: 'user-enumeration',
    filter: (event) => event.action === 'defense.not_found',
    groupBy: callerTarget,
    distinct: (event) => event.target?.id ?? null,
    // A person follows a few stale links; twenty different unknown ids in minutes is a walk through the id space.
    capacity: 20,
    leakSeconds: 30,
    decision: { kind: 'ban', baseSeconds: 15 * MINUTE, maxSeconds: MAX_AUTOMATED_SECONDS },
  },
  {
    name: 'failures-then-success',
    filter: isAuthFailure,
    groupBy: ipTarget,
    // Alert only: a success after this many failures from one source may be a guessed credential.
    capacity: 5,
    leakSeconds: 5 * MINUTE,
    decision: null,
  },
];

/** A successful sign-in that closes a failures-then-success sequence. */
export function isAuthSuccess(event: SecurityEvent): boolean {
  return event.result === 'success' && (event.action === 'auth.login' || event.action === 'auth.mfa_verify');
}

export interface ScenarioOverride {
  enabled: boolean;
  capacity?: number;
  leakSeconds?: number;
  baseSeconds?: number;
}

export type ParseScenariosResult =
  | { ok: true; overrides: Partial<Record<ScenarioName, ScenarioOverride>> }
  | { ok: false; reason: string };

/**
 * Parses `DEFENSE_SCENARIOS`: comma-separated `name=off` or `name=capacity/leakSeconds[/banSeconds]`.
 * @example parseScenarioOverrides('request-flood=60/1,user-enumeration=off')
 */
export function parseScenarioOverrides(value: string | undefined): ParseScenariosResult {
  const overrides: Partial<Record<ScenarioName, ScenarioOverride>> = {};
  if (value === undefined || value.trim() === '') return { ok: true, overrides };
  for (const entry of value.split(',')) {
    const match = /^\s*([a-z-]+)\s*=\s*(off|([0-9]{1,6})\/([0-9]{1,6})(?:\/([0-9]{1,6}))?)\s*$/.exec(entry);
    if (!match)
      return { ok: false, reason: `"${entry.trim()}" is not name=off or name=capacity/leakSeconds[/banSeconds]` };
    const [, name = '', , capacity, leak, ban] = match;
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) {
      return { ok: false, reason: `unknown scenario "${name}" (use ${SCENARIO_NAMES.join(', ')})` };
    }
    if (overrides[name as ScenarioName]) return { ok: false, reason: `scenario "${name}" is given twice` };
    if (capacity === undefined) {
      overrides[name as ScenarioName] = { enabled: false };
      continue;
    }
    if (Number(capacity) < 1 || Number(leak) < 1 || (ban !== undefined && Number(ban) < 1)) {
      return { ok: false, reason: `${name}: capacity, leak and ban seconds must be at least 1` };
    }
    overrides[name as ScenarioName] = {
      enabled: true,
      capacity: Number(capacity),
      leakSeconds: Number(leak),
      ...(ban !== undefined ? { baseSeconds: Number(ban) } : {}),
    };
  }
  return { ok: true, overrides };
}

/**
 * The scenarios in force: the defaults with `DEFENSE_SCENARIOS` applied.
 * @throws Error on an invalid setting (parseConfig reports it first).
 */
export function scenariosFromConfig(value: string | undefined): Scenario[] {
  const parsed = parseScenarioOverrides(value);
  if (!parsed.ok) throw new Error(`DEFENSE_SCENARIOS: ${parsed.reason}`);
  return DEFAULT_SCENARIOS.flatMap((scenario) => {
    const override = parsed.overrides[scenario.name];
    if (!override) return [scenario];
    if (!override.enabled) return [];
    return [
      {
        ...scenario,
        capacity: override.capacity ?? scenario.capacity,
        leakSeconds: override.leakSeconds ?? scenario.leakSeconds,
        decision:
          scenario.decision && override.baseSeconds !== undefined
            ? { ...scenario.decision, baseSeconds: override.baseSeconds }
            : scenario.decision,
      },
    ];
  });
}
