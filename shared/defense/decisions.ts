/**
 * The decision store: decisions live in PostgreSQL (durable, listable, audited, reviewable), are mirrored in
 * Redis, and every process keeps a local in-memory copy kept current through Redis pub/sub, so enforcement is
 * a Map lookup with no round trip. A periodic resync from the Redis mirror heals any missed message.
 */
import { randomInt } from 'node:crypto';
import { and, count, desc, eq, gt, gte, isNull, sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Db } from '../db/index.ts';
import { type DefenseDecisionRow, defenseDecisions } from '../db/schema-defense.ts';
import type { Logger } from '../logger.ts';
import {
  type DecisionKind,
  type DecisionScope,
  type DecisionTarget,
  maskTarget,
  type TargetHasher,
} from './targets.ts';

/** How far back repeat offences count for escalation (fail2ban's bantime.increment looks at its database). */
export const ESCALATION_LOOKBACK_SECONDS = 7 * 24 * 3600;
/** Duration spread, ± this fraction, so a botnet's bans do not all end (and retry) in the same second. */
export const DURATION_JITTER = 0.1;
/** How often each process reloads the Redis mirror, in case a pub/sub message was missed (a reconnect). */
export const DECISION_RESYNC_MS = 30_000;
/** Longest duration an admin may set or extend to: 90 days. */
export const MAX_DECISION_SECONDS = 90 * 24 * 3600;

/** A decision as every process caches it: no personal data, only hashes. */
export interface CachedDecision {
  id: string;
  scenario: string;
  scope: DecisionScope;
  kind: DecisionKind;
  matchHashes: string[];
  expiresAtMs: number;
}

/** A decision as listed to admins and subjects. */
export interface Decision {
  id: string;
  scenario: string;
  scope: DecisionScope;
  kind: DecisionKind;
  /** Masked target label. */
  target: string;
  reason: string;
  automated: boolean;
  offenceLevel: number;
  subjectUserId: string | null;
  createdAt: Date;
  expiresAt: Date;
  liftedAt: Date | null;
  reviewRequestedAt: Date | null;
}

export interface IssueDecisionInput {
  scenario: string;
  kind: DecisionKind;
  target: DecisionTarget;
  /** Other identities of the same target (a user's Telegram account), matched at every edge. */
  aliases?: readonly DecisionTarget[];
  subjectUserId?: string | null;
  reason: string;
  automated: boolean;
  /** Escalating duration: base × 2^(repeat offences), capped, with jitter. */
  baseSeconds?: number;
  maxSeconds?: number;
  /** A fixed duration (admins), instead of escalation. */
  durationSeconds?: number;
  createdBy?: string | null;
}

export interface DecisionStore {
  /**
   * Issues a decision (or returns the active one of the same kind on the same target).
   * @returns the decision and whether it is new.
   */
  issue(input: IssueDecisionInput): Promise<{ decision: Decision; created: boolean }>;
  /** Ends a decision now. @returns it, or null when there is no such active decision. */
  lift(id: string, liftedBy: string | null): Promise<Decision | null>;
  /** Adds time to an active decision. @returns it, or null when there is no such active decision. */
  extend(id: string, seconds: number): Promise<Decision | null>;
  get(id: string): Promise<Decision | null>;
  /** Active decisions, newest first (admins' list). */
  listActive(limit?: number): Promise<Decision[]>;
  /** A person's decisions (active and past), newest first. */
  listForSubject(userId: string, limit?: number): Promise<Decision[]>;
  /** The subject asks a person to review an automated decision (GDPR Art. 22(3)). */
  requestReview(id: string, userId: string): Promise<Decision | null>;
  /** The active decision matching any of these hashes, from the local cache (no I/O). Bans win over throttles. */
  match(hashes: readonly string[]): CachedDecision | undefined;
  /** Active decisions in the local cache. */
  cached(): CachedDecision[];
  /** True when the local cache holds no active decision (the hooks' fast path). */
  isEmpty(): boolean;
  /** Subscribes to changes and loads the active decisions. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** Reloads the local cache from the Redis mirror. */
  resync(): Promise<void>;
}

export interface DecisionStoreDeps {
  db: Db;
  redis: Redis;
  /** Opens the pub/sub subscriber connection. */
  createSubscriber: () => Redis;
  prefix: string;
  hasher: TargetHasher;
  logger?: Pick<Logger, 'warn'> | undefined;
  now?: () => Date;
  /** Jitter source in [0, 1) (tests pass a constant). */
  random?: () => number;
}

const KIND_RANK: Record<DecisionKind, number> = { ban: 3, throttle: 2, factor_lockout: 1 };

function toDecision(row: DefenseDecisionRow): Decision {
  return {
    id: row.id,
    scenario: row.scenario,
    scope: row.scope as DecisionScope,
    kind: row.kind as DecisionKind,
    target: row.targetLabel,
    reason: row.reason,
    automated: row.automated,
    offenceLevel: row.offenceLevel,
    subjectUserId: row.subjectUserId,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    liftedAt: row.liftedAt,
    reviewRequestedAt: row.reviewRequestedAt,
  };
}

function toCached(row: DefenseDecisionRow): CachedDecision {
  return {
    id: row.id,
    scenario: row.scenario,
    scope: row.scope as DecisionScope,
    kind: row.kind as DecisionKind,
    matchHashes: row.matchHashes,
    expiresAtMs: row.expiresAt.getTime(),
  };
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parseCached(text: string): CachedDecision | null {
  try {
    const value = JSON.parse(text) as CachedDecision;
    if (typeof value.id !== 'string' || !Array.isArray(value.matchHashes) || typeof value.expiresAtMs !== 'number') {
      return null;
    }
    return value;
  } catch {
    return null;
  }
}

/** Escalated duration: base × 2^level, capped, spread by ±DURATION_JITTER. */
export function escalatedSeconds(baseSeconds: number, maxSeconds: number, level: number, random: number): number {
  const raw = Math.min(maxSeconds, baseSeconds * 2 ** Math.min(level, 30));
  const jittered = raw * (1 - DURATION_JITTER + 2 * DURATION_JITTER * random);
  return Math.max(1, Math.round(Math.min(maxSeconds, jittered)));
}

/** Creates the store. Call `start()` before relying on `match`. */
export function createDecisionStore(deps: DecisionStoreDeps): DecisionStore {
  const { db, redis } = deps;
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? (() => randomInt(0, 1_000_000) / 1_000_000);
  const mirrorKey = `${deps.prefix}:defense:decisions`;
  const channel = `${deps.prefix}:defense:decisions:events`;
  /** hash → decision ids; id → decision. */
  const byHash = new Map<string, Set<string>>();
  const byId = new Map<string, CachedDecision>();
  let subscriber: Redis | undefined;
  let timer: NodeJS.Timeout | undefined;

  const drop = (id: string) => {
    const known = byId.get(id);
    if (!known) return;
    byId.delete(id);
    for (const hash of known.matchHashes) {
      const ids = byHash.get(hash);
      ids?.delete(id);
      if (ids && ids.size === 0) byHash.delete(hash);
    }
  };
  const put = (decision: CachedDecision) => {
    drop(decision.id);
    if (decision.expiresAtMs <= Date.now()) return;
    byId.set(decision.id, decision);
    for (const hash of decision.matchHashes) {
      let ids = byHash.get(hash);
      if (!ids) {
        ids = new Set();
        byHash.set(hash, ids);
      }
      ids.add(decision.id);
    }
  };

  const broadcast = async (message: { op: 'put'; decision: CachedDecision } | { op: 'del'; id: string }) => {
    const multi = redis.multi();
    if (message.op === 'put') multi.hset(mirrorKey, message.decision.id, JSON.stringify(message.decision));
    else multi.hdel(mirrorKey, message.id);
    multi.publish(channel, JSON.stringify(message));
    await multi.exec();
  };

  const active = () => and(isNull(defenseDecisions.liftedAt), gt(defenseDecisions.expiresAt, now()));

  const store: DecisionStore = {
    async issue(input) {
      const targetHash = deps.hasher(input.target);
      const matchHashes = [...new Set([targetHash, ...(input.aliases ?? []).map((alias) => deps.hasher(alias))])];
      const [existing] = await db
        .select()
        .from(defenseDecisions)
        .where(and(eq(defenseDecisions.targetHash, targetHash), eq(defenseDecisions.kind, input.kind), active()))
        .orderBy(desc(defenseDecisions.expiresAt))
        .limit(1);
      if (existing) {
        put(toCached(existing));
        return { decision: toDecision(existing), created: false };
      }
      const since = new Date(now().getTime() - ESCALATION_LOOKBACK_SECONDS * 1000);
      const [prior] = await db
        .select({ n: count() })
        .from(defenseDecisions)
        .where(and(eq(defenseDecisions.targetHash, targetHash), gte(defenseDecisions.createdAt, since)));
      const level = Number(prior?.n ?? 0);
      const seconds =
        input.durationSeconds ??
        escalatedSeconds(input.baseSeconds ?? 900, input.maxSeconds ?? 86_400, level, random());
      const createdAt = now();
      const [row] = await db
        .insert(defenseDecisions)
        .values({
          scenario: input.scenario,
          scope: input.target.scope,
          kind: input.kind,
          targetHash,
          matchHashes,
          targetLabel: maskTarget(input.target),
          subjectUserId: input.subjectUserId ?? null,
          reason: input.reason,
          automated: input.automated,
          offenceLevel: level,
          createdBy: input.createdBy ?? null,
          createdAt,
          expiresAt: new Date(createdAt.getTime() + Math.min(seconds, MAX_DECISION_SECONDS) * 1000),
        })
        .returning();
      if (!row) throw new Error('Decision insert returned no row');
      const cached = toCached(row);
      put(cached);
      await broadcast({ op: 'put', decision: cached });
      return { decision: toDecision(row), created: true };
    },

    async lift(id, liftedBy) {
      if (!UUID_PATTERN.test(id)) return null;
      const [row] = await db
        .update(defenseDecisions)
        .set({ liftedAt: now(), liftedBy })
        .where(and(eq(defenseDecisions.id, id), active()))
        .returning();
      if (!row) return null;
      drop(id);
      await broadcast({ op: 'del', id });
      return toDecision(row);
    },

    async extend(id, seconds) {
      if (!UUID_PATTERN.test(id)) return null;
      const add = Math.max(1, Math.min(Math.floor(seconds), MAX_DECISION_SECONDS));
      const [row] = await db
        .update(defenseDecisions)
        .set({ expiresAt: sql`${defenseDecisions.expiresAt} + make_interval(secs => ${add})` })
        .where(and(eq(defenseDecisions.id, id), active()))
        .returning();
      if (!row) return null;
      const cached = toCached(row);
      put(cached);
      await broadcast({ op: 'put', decision: cached });
      return toDecision(row);
    },

    async get(id) {
      if (!UUID_PATTERN.test(id)) return null;
      const [row] = await db.select().from(defenseDecisions).where(eq(defenseDecisions.id, id)).limit(1);
      return row ? toDecision(row) : null;
    },

    async listActive(limit = 100) {
      const rows = await db
        .select()
        .from(defenseDecisions)
        .where(active())
        .orderBy(desc(defenseDecisions.createdAt))
        .limit(limit);
      return rows.map(toDecision);
    },

    async listForSubject(userId, limit = 50) {
      if (!UUID_PATTERN.test(userId)) return [];
      const rows = await db
        .select()
        .from(defenseDecisions)
        .where(eq(defenseDecisions.subjectUserId, userId))
        .orderBy(desc(defenseDecisions.createdAt))
        .limit(limit);
      return rows.map(toDecision);
    },

    async requestReview(id, userId) {
      if (!UUID_PATTERN.test(id) || !UUID_PATTERN.test(userId)) return null;
      const [row] = await db
        .update(defenseDecisions)
        .set({ reviewRequestedAt: sql`coalesce(${defenseDecisions.reviewRequestedAt}, now())` })
        .where(
          and(
            eq(defenseDecisions.id, id),
            eq(defenseDecisions.subjectUserId, userId),
            eq(defenseDecisions.automated, true),
          ),
        )
        .returning();
      return row ? toDecision(row) : null;
    },

    match(hashes) {
      if (byId.size === 0) return undefined;
      const at = Date.now();
      let best: CachedDecision | undefined;
      for (const hash of hashes) {
        const ids = byHash.get(hash);
        if (!ids) continue;
        for (const id of ids) {
          const decision = byId.get(id);
          if (!decision) continue;
          if (decision.expiresAtMs <= at) {
            drop(id); // expired: forget it lazily
            continue;
          }
          if (!best || KIND_RANK[decision.kind] > KIND_RANK[best.kind]) best = decision;
        }
      }
      return best;
    },

    cached() {
      const at = Date.now();
      return [...byId.values()].filter((decision) => decision.expiresAtMs > at);
    },

    isEmpty() {
      return byId.size === 0;
    },

    async resync() {
      const entries = await redis.hgetall(mirrorKey);
      const seen = new Set<string>();
      const expired: string[] = [];
      for (const [id, text] of Object.entries(entries)) {
        const decision = parseCached(text);
        if (!decision || decision.expiresAtMs <= Date.now()) {
          expired.push(id);
          continue;
        }
        seen.add(id);
        put(decision);
      }
      for (const id of [...byId.keys()]) if (!seen.has(id)) drop(id);
      if (expired.length > 0) await redis.hdel(mirrorKey, ...expired);
    },

    async start() {
      subscriber = deps.createSubscriber();
      subscriber.on('error', () => {}); // reconnects on its own; the resync heals what was missed
      subscriber.on('message', (_channel: string, text: string) => {
        try {
          const message = JSON.parse(text) as { op: string; decision?: CachedDecision; id?: string };
          if (message.op === 'put' && message.decision) put(message.decision);
          else if (message.op === 'del' && typeof message.id === 'string') drop(message.id);
        } catch {
          // Not ours (or corrupt): ignored; the periodic resync is the source of truth.
        }
      });
      subscriber.on('ready', () => {
        store.resync().catch(() => {});
      });
      if (subscriber.status === 'wait') await subscriber.connect();
      // Subscribe before loading, so nothing issued in between is missed.
      await subscriber.subscribe(channel);
      // PostgreSQL is the source of truth: the mirror is refilled from it (a flushed Redis loses nothing).
      const rows = await db.select().from(defenseDecisions).where(active());
      if (rows.length > 0) {
        const multi = redis.multi();
        for (const row of rows) multi.hset(mirrorKey, row.id, JSON.stringify(toCached(row)));
        await multi.exec();
      }
      for (const row of rows) put(toCached(row));
      await store.resync();
      timer = setInterval(() => {
        store.resync().catch((error: unknown) => {
          deps.logger?.warn({ err: error instanceof Error ? error.message : String(error) }, 'decision resync failed');
        });
      }, DECISION_RESYNC_MS);
      timer.unref();
    },

    async close() {
      if (timer) clearInterval(timer);
      if (subscriber) {
        subscriber.disconnect();
        subscriber = undefined;
      }
    },
  };
  return store;
}
