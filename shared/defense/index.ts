/**
 * Defense: intrusion detection with decisions. `createDefense` ties the scenarios (leaky buckets in Redis),
 * the decision store (PostgreSQL + Redis mirror + local cache over pub/sub), the allow-list, alerts and the
 * audit trail together. The edges (the API hook, the bot middleware) only call `check`, which is a Map lookup.
 */
import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { AuditEvent, AuditLog } from '../audit/index.ts';
import { deriveKey } from '../crypto/hash.ts';
import type { Db } from '../db/index.ts';
import { users } from '../db/schema.ts';
import { findUserById, findUserByTelegramId } from '../identity/users.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/index.ts';
import { type Allowlist, parseAllowlist } from './allowlist.ts';
import {
  type CachedDecision,
  createDecisionStore,
  type Decision,
  type DecisionStore,
  MAX_DECISION_SECONDS,
} from './decisions.ts';
import { createDetector, type Overflow } from './detector.ts';
import { type Scenario, type SecurityEvent, scenariosFromConfig } from './scenarios.ts';
import { createTargetHasher, type DecisionTarget, type TargetHasher } from './targets.ts';

export { type Allowlist, parseAllowlist } from './allowlist.ts';
export * from './decisions.ts';
export * from './scenarios.ts';
export * from './targets.ts';

/** How long an alert's lift/extend buttons stay usable. */
export const ACTION_NONCE_TTL_SECONDS = 24 * 3600;
/** What "extend" adds from an alert button. */
export const EXTEND_STEP_SECONDS = 24 * 3600;

/** What defense asks the notification queue to send (ids only; the worker renders the text). */
export type DefenseNotice =
  | { kind: 'defense-decision'; userId: string; decisionId: string; nonce: string }
  | { kind: 'defense-alert'; userId: string; scenario: string; subjectUserId: string | null }
  | { kind: 'defense-target'; userId: string; decisionId: string };

/** A pending admin action from an alert button: single use, bound to one admin. */
export interface ActionNonce {
  decisionId: string;
  adminUserId: string;
}

export interface DefenseDeps {
  db: Db;
  redis: Redis;
  createSubscriber: () => Redis;
  prefix: string;
  masterKey: Uint8Array;
  /** DEFENSE_SCENARIOS as configured. */
  scenarios?: string | undefined;
  /** DEFENSE_ALLOWLIST as configured. */
  allowlist?: string | undefined;
  metrics?: Metrics | undefined;
  logger?: Pick<Logger, 'warn' | 'info'> | undefined;
  audit?: Pick<AuditLog, 'record'> | undefined;
  notify?: ((notice: DefenseNotice) => Promise<void>) | undefined;
  now?: () => Date;
  random?: () => number;
}

export interface DefenseActionContext {
  actorUserId: string;
  source: 'api' | 'bot';
  requestId?: string | undefined;
  ip?: string | undefined;
}

export interface Defense {
  decisions: DecisionStore;
  hasher: TargetHasher;
  scenarios: readonly Scenario[];
  allowlist: Allowlist;
  /** Offers an event to the scenarios. Never throws: a detection failure must not fail the request. */
  observe(event: SecurityEvent): Promise<void>;
  /** The decision in force for any of these targets (local cache only). */
  check(targets: readonly DecisionTarget[]): CachedDecision | undefined;
  /** True when the user's second factor is locked out by a decision. */
  isFactorLocked(userId: string): boolean;
  /** An admin's own decision (not automated), audited. */
  issueManual(
    input: { target: DecisionTarget; kind: 'ban' | 'throttle' | 'factor_lockout'; seconds: number; reason: string },
    context: DefenseActionContext,
  ): Promise<Decision>;
  /** Lifts a decision, audited. */
  lift(id: string, context: DefenseActionContext): Promise<Decision | null>;
  /** Extends a decision, audited. */
  extend(id: string, seconds: number, context: DefenseActionContext): Promise<Decision | null>;
  /** The subject asks for a human review of an automated decision, audited; admins are alerted. */
  requestReview(id: string, context: DefenseActionContext): Promise<Decision | null>;
  /** Consumes an alert button's nonce (single use). @returns it, or null when unknown, used or expired. */
  takeNonce(nonce: string): Promise<ActionNonce | null>;
  /** Wires late dependencies (the audit trail and notifications are built after defense). */
  connect(parts: { audit?: Pick<AuditLog, 'record'>; notify?: (notice: DefenseNotice) => Promise<void> }): void;
  start(): Promise<void>;
  close(): Promise<void>;
}

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16}$/;

/** The face an event came through (the audit trail's sources), for the decision's own audit entry. */
function sourceOf(event: SecurityEvent): 'api' | 'bot' | 'worker' | 'cli' {
  return event.source === 'bot' || event.source === 'worker' || event.source === 'cli' ? event.source : 'api';
}

export function createDefense(deps: DefenseDeps): Defense {
  const hasher = createTargetHasher(deriveKey(deps.masterKey, 'defense-target-v1'));
  const scenarios = scenariosFromConfig(deps.scenarios);
  const parsed = parseAllowlist(deps.allowlist);
  if (!parsed.ok) throw new Error(`DEFENSE_ALLOWLIST: ${parsed.reason}`);
  const { allowlist } = parsed;
  let audit = deps.audit;
  let notify = deps.notify;
  const nonceKey = (nonce: string) => `${deps.prefix}:defense:nonce:${nonce}`;

  const decisions = createDecisionStore({
    db: deps.db,
    redis: deps.redis,
    createSubscriber: deps.createSubscriber,
    prefix: deps.prefix,
    hasher,
    logger: deps.logger,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.random ? { random: deps.random } : {}),
  });

  /** The other identities of a target, so a decision earned at one edge holds at the other. */
  const aliasesOf = async (target: DecisionTarget): Promise<{ aliases: DecisionTarget[]; userId: string | null }> => {
    if (target.scope === 'user') {
      const user = await findUserById(deps.db, target.value);
      return {
        aliases: user ? [{ scope: 'telegram_user', value: String(user.telegramId) }] : [],
        userId: target.value,
      };
    }
    if (target.scope === 'telegram_user' && /^[0-9]{1,20}$/.test(target.value)) {
      const user = await findUserByTelegramId(deps.db, Number(target.value));
      return { aliases: user ? [{ scope: 'user', value: user.id }] : [], userId: user?.id ?? null };
    }
    return { aliases: [], userId: null };
  };

  const admins = async () =>
    deps.db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.role, 'admin'), eq(users.status, 'active')));

  const send = async (notice: DefenseNotice) => {
    try {
      await notify?.(notice);
    } catch (error) {
      deps.logger?.warn(
        { kind: notice.kind, err: error instanceof Error ? error.message : String(error) },
        'defense notice',
      );
    }
  };

  const alertAdmins = async (decision: Decision) => {
    for (const admin of await admins()) {
      const nonce = randomBytes(12).toString('base64url');
      const record: ActionNonce = { decisionId: decision.id, adminUserId: admin.id };
      await deps.redis.set(nonceKey(nonce), JSON.stringify(record), 'EX', ACTION_NONCE_TTL_SECONDS);
      await send({ kind: 'defense-decision', userId: admin.id, decisionId: decision.id, nonce });
    }
  };

  const onOverflow = async ({ scenario, target, event }: Overflow) => {
    deps.metrics?.scenarioOverflows.inc({ scenario: scenario.name });
    if (!scenario.decision) return;
    const { aliases, userId } = await aliasesOf(target);
    const { decision, created } = await decisions.issue({
      scenario: scenario.name,
      kind: scenario.decision.kind,
      target,
      aliases,
      subjectUserId: userId,
      reason: scenario.name.toUpperCase().replace(/-/g, '_'),
      automated: true,
      baseSeconds: scenario.decision.baseSeconds,
      maxSeconds: scenario.decision.maxSeconds,
    });
    if (!created) return;
    deps.metrics?.decisionsIssued.inc({ scenario: scenario.name, kind: decision.kind, automated: 'true' });
    await audit?.record({
      actor: { type: 'system', id: 'defense' },
      action: 'defense.decision_issued',
      target: { type: 'decision', id: decision.id },
      subjectUserId: userId ?? undefined,
      result: 'success',
      reasonCode: decision.reason,
      source: sourceOf(event),
    });
    await alertAdmins(decision);
    if (userId) await send({ kind: 'defense-target', userId, decisionId: decision.id });
  };

  const onAlert = async ({ scenario, target, event }: Overflow) => {
    deps.metrics?.scenarioOverflows.inc({ scenario: scenario.name });
    const { userId } = await aliasesOf(target);
    await audit?.record({
      actor: { type: 'system', id: 'defense' },
      action: 'defense.alert',
      target: { type: 'scenario', id: scenario.name },
      result: 'success',
      reasonCode: scenario.name.toUpperCase().replace(/-/g, '_'),
      source: sourceOf(event),
    });
    for (const admin of await admins()) {
      await send({ kind: 'defense-alert', userId: admin.id, scenario: scenario.name, subjectUserId: userId });
    }
  };

  const detector = createDetector({
    redis: deps.redis,
    prefix: deps.prefix,
    scenarios,
    allowlist,
    hasher,
    onOverflow,
    onAlert,
    ...(deps.now ? { now: () => (deps.now as () => Date)().getTime() } : {}),
  });

  const recordAction = async (action: string, decision: Decision, context: DefenseActionContext) => {
    await audit?.record({
      actor: { type: 'user', id: context.actorUserId },
      action,
      target: { type: 'decision', id: decision.id },
      ...(decision.subjectUserId ? { subjectUserId: decision.subjectUserId } : {}),
      result: 'success',
      source: context.source,
      requestId: context.requestId,
      ip: context.ip,
    });
  };

  return {
    decisions,
    hasher,
    scenarios,
    allowlist,

    async observe(event) {
      try {
        await detector.observe(event);
      } catch (error) {
        deps.logger?.warn(
          { action: event.action, err: error instanceof Error ? error.message : String(error) },
          'intrusion detection failed',
        );
      }
    },

    check(targets) {
      if (decisions.isEmpty()) return undefined; // the common case: nothing to hash, nothing to look up
      return decisions.match(targets.map(hasher));
    },

    isFactorLocked(userId) {
      if (decisions.isEmpty()) return false;
      return decisions.match([hasher({ scope: 'user', value: userId })]) !== undefined;
    },

    async issueManual(input, context) {
      const { aliases, userId } = await aliasesOf(input.target);
      const { decision } = await decisions.issue({
        scenario: 'manual',
        kind: input.kind,
        target: input.target,
        aliases,
        subjectUserId: userId,
        reason: input.reason,
        automated: false,
        durationSeconds: Math.min(input.seconds, MAX_DECISION_SECONDS),
        createdBy: context.actorUserId,
      });
      deps.metrics?.decisionsIssued.inc({ scenario: 'manual', kind: decision.kind, automated: 'false' });
      await recordAction('defense.decision_issued', decision, context);
      return decision;
    },

    async lift(id, context) {
      const decision = await decisions.lift(id, context.actorUserId);
      if (decision) await recordAction('defense.decision_lifted', decision, context);
      return decision;
    },

    async extend(id, seconds, context) {
      const decision = await decisions.extend(id, seconds);
      if (decision) await recordAction('defense.decision_extended', decision, context);
      return decision;
    },

    async requestReview(id, context) {
      const before = await decisions.get(id);
      const decision = await decisions.requestReview(id, context.actorUserId);
      if (!decision) return null;
      if (before && before.reviewRequestedAt === null) {
        await recordAction('defense.review_requested', decision, context);
        await alertAdmins(decision);
      }
      return decision;
    },

    async takeNonce(nonce) {
      if (!NONCE_PATTERN.test(nonce)) return null;
      // GETDEL: the first tap consumes it, so a replayed or double tap does nothing.
      const text = await deps.redis.getdel(nonceKey(nonce));
      if (!text) return null;
      try {
        return JSON.parse(text) as ActionNonce;
      } catch {
        return null;
      }
    },

    connect(parts) {
      if (parts.audit) audit = parts.audit;
      if (parts.notify) notify = parts.notify;
    },

    start: () => decisions.start(),
    close: () => decisions.close(),
  };
}

/**
 * The audit trail with detection: each recorded event is counted by type and offered to the scenarios
 * (awaited, so the request that overflows a bucket ends after its decision exists). Detection failures are
 * logged by `observe`, never thrown: recording already succeeded.
 */
export function withDetection(audit: AuditLog, defense: Pick<Defense, 'observe'>, metrics?: Metrics): AuditLog {
  return {
    async record(event) {
      const record = await audit.record(event);
      if (metrics) countEvent(metrics, event);
      await defense.observe(event);
      return record;
    },
    subscribe: (listener) => audit.subscribe(listener),
  };
}

/** Sign-in outcomes as metrics: attempts by method and result, second-factor checks by result. */
function countEvent(metrics: Metrics, event: AuditEvent): void {
  metrics.securityEvents.inc({ type: event.action });
  if (event.result !== 'success' && event.result !== 'failure' && event.result !== 'denied') return;
  const result = event.result === 'success' ? 'success' : 'failure';
  const method =
    event.action === 'auth.login'
      ? event.reasonCode?.startsWith('OAUTH') || event.target?.type === 'oauth_provider'
        ? 'oauth'
        : 'telegram'
      : event.action === 'auth.oauth_code'
        ? 'oauth'
        : event.action === 'auth.step_up'
          ? 'step_up'
          : event.action === 'auth.mfa_verify'
            ? 'mfa'
            : event.action === 'auth.refresh_reuse'
              ? 'refresh'
              : null;
  if (method) metrics.authAttempts.inc({ method, result });
  if (method === 'step_up' || method === 'mfa') {
    metrics.mfaVerifications.inc({
      method: 'totp',
      result: event.reasonCode === 'SECOND_FACTOR_LOCKED' ? 'locked' : result,
    });
  }
}
