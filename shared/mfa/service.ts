/**
 * The MFA capability: TOTP enrolment and verification, backup codes, disabling, the sign-in challenge and
 * the admin reset that waits before it applies. Implements the `SecondFactor` that step-up uses.
 * Outcomes a person can cause (a wrong code, a lock) are returned; rule violations throw MfaErrors.
 */
import { and, eq, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../audit/index.ts';
import type { UserFieldCipher } from '../crypto/field-cipher.ts';
import { hashToken } from '../crypto/hash.ts';
import { randomToken } from '../crypto/random.ts';
import type { Db } from '../db/index.ts';
import { mfaBackupCodes, mfaFactors, mfaResets } from '../db/schema.ts';
import type { AuthMethod } from '../identity/principal.ts';
import type { SecondFactor, SecondFactorResult } from '../identity/second-factor.ts';
import { generateBackupCodes, hashBackupCode, looksLikeBackupCode, normaliseBackupCode } from './backup-codes.ts';
import { base32ToBytes } from './base32.ts';
import { mfaError } from './errors.ts';
import { createLockout, type Lockout, type MfaChannel } from './lockout.ts';
import { generateTotpSecret, totpUri, verifyTotp } from './totp.ts';

/** The issuer shown in authenticator apps: the product's name. */
export const MFA_ISSUER = 'Telegram Security Platform';
/** A sign-in challenge lives this long (enough to open the app and type a code). */
export const MFA_CHALLENGE_SECONDS = 5 * 60;
/** Wrong codes one challenge accepts before it is void (the per-channel lockout also applies). */
export const MFA_CHALLENGE_MAX_ATTEMPTS = 5;
/** An admin reset waits this long, so the real owner can cancel one made on an impostor's word. */
export const MFA_RESET_DELAY_SECONDS = 24 * 3600;
/** Step-up freshness for sensitive actions (routes use it as `config.stepUpSeconds`). */
export const STEP_UP_SECONDS = 10 * 60;

const SECRET_CONTEXT = (userId: string) => ({ table: 'mfa_factors', column: 'secret', rowId: userId });

/** Ids only: the server turns these into Telegram notices (server/notify.ts). */
export type MfaNotice =
  | { kind: 'mfa-enabled'; userId: string }
  | { kind: 'mfa-disabled'; userId: string }
  | { kind: 'mfa-locked'; userId: string; channel: MfaChannel; lockedUntil: string }
  | { kind: 'mfa-backup-codes-regenerated'; userId: string }
  | { kind: 'mfa-reset-requested'; userId: string; effectiveAt: string }
  | { kind: 'mfa-reset-cancelled'; userId: string }
  | { kind: 'mfa-reset-completed'; userId: string };

export interface MfaStatus {
  enabled: boolean;
  enrolledAt: Date | null;
  backupCodesRemaining: number;
  pendingReset: { id: string; effectiveAt: Date } | null;
  /** The later lock of the two channels, if any. */
  lockedUntil: Date | null;
}

export type CodeResult = { ok: true } | { ok: false; reason: 'invalid' | 'locked' | 'not_enrolled' };
export type CodesResult = { ok: true; backupCodes: string[] } | { ok: false; reason: 'invalid' | 'locked' };
export type ChallengeResult =
  | { ok: true; userId: string; amr: AuthMethod[]; client: string; ip: string }
  | { ok: false; reason: 'challenge_invalid' | 'invalid' | 'locked'; userId?: string };

export interface MfaServiceDeps {
  db: Db;
  redis: Redis;
  prefix: string;
  userKeys: UserFieldCipher;
  audit: Pick<AuditLog, 'record'>;
  notify: (notice: MfaNotice) => Promise<void>;
  /** Backup-code pepper: `deriveKey(masterKey, BACKUP_CODE_PEPPER_PURPOSE)`. */
  pepper: Uint8Array;
  /** Schedules the completion of a reset (a delayed job); the due-time sweep is the fallback. */
  scheduleReset?: (resetId: string, effectiveAt: Date) => Promise<void>;
  /** Epoch ms (tests fix it). */
  now?: () => number;
  lockout?: Lockout;
  /**
   * True while intrusion detection has locked the person's second factor (a `factor_lockout` decision, e.g.
   * after a brute force over many sessions): code checks on the API channel answer 'locked'.
   */
  isLockedByDecision?: (userId: string) => boolean;
}

export interface MfaService extends SecondFactor {
  isEnrolled(userId: string): Promise<boolean>;
  status(userId: string): Promise<MfaStatus>;
  /** Starts (or restarts) enrolment: a new pending secret. @throws MFA_ALREADY_ENABLED */
  startEnrolment(userId: string, label: string): Promise<{ secret: string; otpauthUri: string }>;
  /** Checks the first code against the pending secret; on success the factor is on and backup codes are issued. */
  confirmEnrolment(userId: string, code: string, channel: MfaChannel): Promise<CodesResult>;
  /** Drops a pending (unconfirmed) enrolment. */
  abandonEnrolment(userId: string): Promise<void>;
  /** New backup codes; needs a current TOTP (not a backup code). @throws MFA_NOT_ENROLLED */
  regenerateBackupCodes(userId: string, code: string, channel: MfaChannel): Promise<CodesResult>;
  /** Turns MFA off with a current TOTP or a backup code. */
  disable(userId: string, code: string, channel: MfaChannel): Promise<CodeResult>;
  createChallenge(input: { userId: string; amr: AuthMethod[]; client: string; ip: string }): Promise<{
    challenge: string;
    expiresInSeconds: number;
  }>;
  /** Verifies the code of a sign-in challenge; the challenge is single use. */
  completeChallenge(challenge: string, code: string): Promise<ChallengeResult>;
  /** An admin asks to remove `userId`'s factor; it applies after MFA_RESET_DELAY_SECONDS. @throws MFA_NOT_ENROLLED */
  requestReset(input: {
    userId: string;
    adminId: string;
    source: 'api' | 'bot';
  }): Promise<{ id: string; effectiveAt: Date }>;
  /** The person cancels a pending reset. @returns false when none was pending. */
  cancelReset(userId: string, source: 'api' | 'bot'): Promise<boolean>;
  /** Completes every pending reset that is due (idempotent); returns how many. */
  processDueResets(): Promise<number>;
  lockout: Lockout;
}

/**
 * Builds the MFA service.
 * @example const mfa = createMfaService({ db, redis, prefix, userKeys, audit, notify, pepper });
 */
export function createMfaService(deps: MfaServiceDeps): MfaService {
  const { db, audit } = deps;
  const now = deps.now ?? (() => Date.now());
  const lockout = deps.lockout ?? createLockout({ redis: deps.redis, prefix: deps.prefix, now });
  const challengeKey = (challenge: string) => `${deps.prefix}:mfa:chal:${hashToken(challenge)}`;

  const factorOf = async (userId: string) => {
    const [row] = await db.select().from(mfaFactors).where(eq(mfaFactors.userId, userId)).limit(1);
    return row ?? null;
  };

  const openSecret = async (userId: string, sealed: Uint8Array): Promise<Buffer | null> =>
    deps.userKeys.openForUser(userId, sealed, SECRET_CONTEXT(userId));

  const issueBackupCodes = async (userId: string): Promise<string[]> => {
    const codes = generateBackupCodes();
    await db.transaction(async (tx) => {
      // A new set replaces the old one entirely: old codes stop working at once.
      await tx.delete(mfaBackupCodes).where(eq(mfaBackupCodes.userId, userId));
      await tx
        .insert(mfaBackupCodes)
        .values(codes.map((code) => ({ userId, codeHash: hashBackupCode(deps.pepper, userId, code) })));
    });
    return codes;
  };

  /** TOTP against the active factor, with the replay guard stored atomically. */
  const checkTotp = async (userId: string, code: string, secretSealed: Uint8Array, lastUsedStep: number | null) => {
    const secret = await openSecret(userId, secretSealed);
    if (!secret) return { ok: false as const, reason: 'invalid' as const };
    const check = await verifyTotp({ secret: new Uint8Array(secret), code, nowSeconds: now() / 1000, lastUsedStep });
    if (!check.ok) return check;
    // Compare-and-set: two requests racing with the same code cannot both win.
    const updated = await db
      .update(mfaFactors)
      .set({ lastUsedStep: check.timeStep })
      .where(
        and(
          eq(mfaFactors.userId, userId),
          or(isNull(mfaFactors.lastUsedStep), lt(mfaFactors.lastUsedStep, check.timeStep)),
        ),
      )
      .returning({ userId: mfaFactors.userId });
    return updated.length > 0 ? check : { ok: false as const, reason: 'replayed' as const };
  };

  const consumeBackupCode = async (userId: string, code: string): Promise<boolean> => {
    if (!looksLikeBackupCode(code)) return false;
    const used = await db
      .update(mfaBackupCodes)
      .set({ usedAt: new Date(now()) })
      .where(
        and(
          eq(mfaBackupCodes.userId, userId),
          eq(mfaBackupCodes.codeHash, hashBackupCode(deps.pepper, userId, normaliseBackupCode(code) ?? code)),
          isNull(mfaBackupCodes.usedAt),
        ),
      )
      .returning({ id: mfaBackupCodes.id });
    return used.length > 0;
  };

  const onFailure = async (userId: string, channel: MfaChannel, reason: string): Promise<'invalid' | 'locked'> => {
    const outcome = await lockout.fail(userId, channel);
    if (outcome.justLocked && outcome.lockedUntil !== null) {
      const lockedUntil = new Date(outcome.lockedUntil).toISOString();
      // A security event: someone typed wrong codes until the lock.
      await audit.record({
        actor: { type: 'user', id: userId },
        action: 'mfa.lockout',
        result: 'denied',
        reasonCode: 'SECOND_FACTOR_LOCKED',
        source: channel,
        details: { channel, lockouts: outcome.lockouts, lockedUntil, lastFailure: reason },
      });
      await deps.notify({ kind: 'mfa-locked', userId, channel, lockedUntil });
    }
    return outcome.locked ? 'locked' : 'invalid';
  };

  /**
   * One code check at a time per person and channel: a burst of concurrent guesses would otherwise all pass
   * the lock check before the first failure is counted. A check that finds another in flight is refused as
   * 'locked' without looking at its code.
   */
  const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
  const verifyCode = async (
    userId: string,
    code: string,
    channel: MfaChannel,
    allowBackupCode: boolean,
  ): Promise<SecondFactorResult> => {
    const busyKey = `${deps.prefix}:mfa:busy:${userId}:${channel}`;
    const token = randomToken(16);
    if ((await deps.redis.set(busyKey, token, 'PX', 15_000, 'NX')) !== 'OK') return 'locked';
    try {
      return await verifyCodeAlone(userId, code, channel, allowBackupCode);
    } finally {
      await deps.redis.eval(RELEASE, 1, busyKey, token);
    }
  };

  /** The shared check: lock first, then TOTP (6 digits) or, when allowed, a backup code. */
  const verifyCodeAlone = async (
    userId: string,
    code: string,
    channel: MfaChannel,
    allowBackupCode: boolean,
  ): Promise<SecondFactorResult> => {
    // An intrusion-detection lockout holds on the API channel only: the bot is the owner's own channel (their
    // Telegram account), so someone with an API session alone can never lock the owner out of it.
    if (channel === 'api' && deps.isLockedByDecision?.(userId)) return 'locked';
    if ((await lockout.check(userId, channel)).locked) return 'locked';
    const factor = await factorOf(userId);
    if (factor?.status !== 'active') return 'not_enrolled';
    const trimmed = code.trim();
    let ok = false;
    let reason = 'invalid';
    if (/^[0-9\s]+$/.test(trimmed)) {
      const check = await checkTotp(userId, trimmed, factor.secret, factor.lastUsedStep);
      ok = check.ok;
      if (!check.ok) reason = check.reason;
    } else if (allowBackupCode && (await consumeBackupCode(userId, trimmed))) {
      ok = true;
      await audit.record({
        actor: { type: 'user', id: userId },
        action: 'mfa.backup_code_used',
        result: 'success',
        source: channel,
      });
    }
    if (!ok) return onFailure(userId, channel, reason);
    await lockout.succeed(userId, channel);
    return 'ok';
  };

  const pendingResetOf = async (userId: string) => {
    const [row] = await db
      .select()
      .from(mfaResets)
      .where(and(eq(mfaResets.userId, userId), eq(mfaResets.status, 'pending')))
      .limit(1);
    return row ?? null;
  };

  const removeFactor = async (userId: string) => {
    await db.transaction(async (tx) => {
      await tx.delete(mfaBackupCodes).where(eq(mfaBackupCodes.userId, userId));
      await tx.delete(mfaFactors).where(eq(mfaFactors.userId, userId));
    });
    await lockout.clear(userId);
  };

  return {
    lockout,

    verify(userId, code, channel) {
      return verifyCode(userId, code, channel, true);
    },

    async isEnrolled(userId) {
      const [row] = await db
        .select({ status: mfaFactors.status })
        .from(mfaFactors)
        .where(eq(mfaFactors.userId, userId))
        .limit(1);
      return row?.status === 'active';
    },

    async status(userId) {
      const factor = await factorOf(userId);
      const enabled = factor?.status === 'active';
      const [count] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(mfaBackupCodes)
        .where(and(eq(mfaBackupCodes.userId, userId), isNull(mfaBackupCodes.usedAt)));
      const reset = await pendingResetOf(userId);
      const locks = await Promise.all([lockout.check(userId, 'api'), lockout.check(userId, 'bot')]);
      const until = Math.max(...locks.map((lock) => lock.lockedUntil ?? 0));
      return {
        enabled,
        enrolledAt: enabled ? (factor?.enabledAt ?? null) : null,
        backupCodesRemaining: enabled ? Number(count?.n ?? 0) : 0,
        pendingReset: reset ? { id: reset.id, effectiveAt: reset.effectiveAt } : null,
        lockedUntil: until > 0 ? new Date(until) : null,
      };
    },

    async startEnrolment(userId, label) {
      const existing = await factorOf(userId);
      if (existing?.status === 'active') throw mfaError('MFA_ALREADY_ENABLED');
      const secret = generateTotpSecret();
      const sealed = await deps.userKeys.sealForUser(userId, base32ToBytes(secret), SECRET_CONTEXT(userId));
      await db
        .insert(mfaFactors)
        .values({ userId, status: 'pending', secret: sealed, createdAt: new Date(now()) })
        .onConflictDoUpdate({
          target: mfaFactors.userId,
          set: { status: 'pending', secret: sealed, createdAt: new Date(now()), enabledAt: null, lastUsedStep: null },
          // Never overwrite an active factor (a race with a confirmation).
          setWhere: eq(mfaFactors.status, 'pending'),
        });
      return { secret, otpauthUri: totpUri({ secret, issuer: MFA_ISSUER, label }) };
    },

    async confirmEnrolment(userId, code, channel) {
      if ((await lockout.check(userId, channel)).locked) return { ok: false, reason: 'locked' };
      const factor = await factorOf(userId);
      if (factor?.status === 'active') throw mfaError('MFA_ALREADY_ENABLED');
      if (!factor) throw mfaError('MFA_ENROLMENT_NOT_STARTED');
      const secret = await openSecret(userId, factor.secret);
      const check = secret
        ? await verifyTotp({ secret: new Uint8Array(secret), code, nowSeconds: now() / 1000 })
        : ({ ok: false, reason: 'invalid' } as const);
      if (!check.ok) return { ok: false, reason: await onFailure(userId, channel, check.reason) };
      const activated = await db
        .update(mfaFactors)
        .set({ status: 'active', enabledAt: new Date(now()), lastUsedStep: check.timeStep })
        .where(and(eq(mfaFactors.userId, userId), eq(mfaFactors.status, 'pending')))
        .returning({ userId: mfaFactors.userId });
      if (activated.length === 0) throw mfaError('MFA_ALREADY_ENABLED');
      await lockout.succeed(userId, channel);
      const backupCodes = await issueBackupCodes(userId);
      await audit.record({
        actor: { type: 'user', id: userId },
        action: 'mfa.enable',
        result: 'success',
        source: channel,
      });
      await deps.notify({ kind: 'mfa-enabled', userId });
      return { ok: true, backupCodes };
    },

    async abandonEnrolment(userId) {
      await db.delete(mfaFactors).where(and(eq(mfaFactors.userId, userId), eq(mfaFactors.status, 'pending')));
    },

    async regenerateBackupCodes(userId, code, channel) {
      // A current TOTP only: a backup code must not be able to mint ten new ones.
      const result = await verifyCode(userId, code, channel, false);
      if (result === 'not_enrolled') throw mfaError('MFA_NOT_ENROLLED');
      if (result !== 'ok') return { ok: false, reason: result };
      const backupCodes = await issueBackupCodes(userId);
      await audit.record({
        actor: { type: 'user', id: userId },
        action: 'mfa.backup_codes_regenerate',
        result: 'success',
        source: channel,
      });
      await deps.notify({ kind: 'mfa-backup-codes-regenerated', userId });
      return { ok: true, backupCodes };
    },

    async disable(userId, code, channel) {
      const result = await verifyCode(userId, code, channel, true);
      if (result !== 'ok') {
        await audit.record({
          actor: { type: 'user', id: userId },
          action: 'mfa.disable',
          result: 'failure',
          reasonCode: `SECOND_FACTOR_${result.toUpperCase()}`,
          source: channel,
        });
        return { ok: false, reason: result };
      }
      await removeFactor(userId);
      await db
        .update(mfaResets)
        .set({ status: 'cancelled', closedAt: new Date(now()) })
        .where(and(eq(mfaResets.userId, userId), eq(mfaResets.status, 'pending')));
      await audit.record({
        actor: { type: 'user', id: userId },
        action: 'mfa.disable',
        result: 'success',
        source: channel,
      });
      await deps.notify({ kind: 'mfa-disabled', userId });
      return { ok: true };
    },

    async createChallenge(input) {
      const challenge = `mfa_${randomToken(32)}`;
      const key = challengeKey(challenge);
      // Only the challenge's hash names the record: a Redis dump holds nothing that resumes a sign-in.
      await deps.redis
        .multi()
        .hset(key, {
          userId: input.userId,
          amr: input.amr.join(','),
          client: input.client,
          ip: input.ip,
          attempts: '0',
        })
        .expire(key, MFA_CHALLENGE_SECONDS)
        .exec();
      return { challenge, expiresInSeconds: MFA_CHALLENGE_SECONDS };
    },

    async completeChallenge(challenge, code) {
      if (!/^mfa_[A-Za-z0-9_-]{20,100}$/.test(challenge)) return { ok: false, reason: 'challenge_invalid' };
      const key = challengeKey(challenge);
      const record = await deps.redis.hgetall(key);
      if (!record.userId) return { ok: false, reason: 'challenge_invalid' };
      const result = await verifyCode(record.userId, code, 'api', true);
      if (result === 'ok') {
        // Single use: only the request that deletes it may finish the sign-in.
        if ((await deps.redis.del(key)) !== 1) return { ok: false, reason: 'challenge_invalid' };
        return {
          ok: true,
          userId: record.userId,
          amr: (record.amr ?? '').split(',').filter(Boolean) as AuthMethod[],
          client: record.client ?? '',
          ip: record.ip ?? '',
        };
      }
      if (result === 'not_enrolled') {
        await deps.redis.del(key);
        return { ok: false, reason: 'challenge_invalid' };
      }
      const attempts = await deps.redis.hincrby(key, 'attempts', 1);
      if (attempts >= MFA_CHALLENGE_MAX_ATTEMPTS) await deps.redis.del(key);
      return { ok: false, reason: result, userId: record.userId };
    },

    async requestReset({ userId, adminId, source }) {
      if (!(await this.isEnrolled(userId))) throw mfaError('MFA_NOT_ENROLLED');
      const existing = await pendingResetOf(userId);
      if (existing) return { id: existing.id, effectiveAt: existing.effectiveAt };
      const requestedAt = new Date(now());
      const effectiveAt = new Date(now() + MFA_RESET_DELAY_SECONDS * 1000);
      const [row] = await db
        .insert(mfaResets)
        .values({ userId, requestedBy: adminId, requestedAt, effectiveAt })
        .onConflictDoNothing()
        .returning();
      const reset = row ?? (await pendingResetOf(userId));
      if (!reset) throw new Error('The reset could not be stored');
      await audit.record({
        actor: { type: 'user', id: adminId },
        action: 'mfa.reset_request',
        subjectUserId: userId,
        target: { type: 'user', id: userId },
        result: 'success',
        source,
        details: { effectiveAt: reset.effectiveAt.toISOString() },
      });
      await deps.notify({ kind: 'mfa-reset-requested', userId, effectiveAt: reset.effectiveAt.toISOString() });
      await deps.scheduleReset?.(reset.id, reset.effectiveAt);
      return { id: reset.id, effectiveAt: reset.effectiveAt };
    },

    async cancelReset(userId, source) {
      const cancelled = await db
        .update(mfaResets)
        .set({ status: 'cancelled', closedAt: new Date(now()) })
        .where(and(eq(mfaResets.userId, userId), eq(mfaResets.status, 'pending')))
        .returning({ id: mfaResets.id });
      if (cancelled.length === 0) return false;
      await audit.record({
        actor: { type: 'user', id: userId },
        action: 'mfa.reset_cancel',
        target: { type: 'mfa_reset', id: cancelled[0]?.id ?? '' },
        result: 'success',
        source,
      });
      await deps.notify({ kind: 'mfa-reset-cancelled', userId });
      return true;
    },

    async processDueResets() {
      const due = await db
        .update(mfaResets)
        .set({ status: 'completed', closedAt: new Date(now()) })
        .where(and(eq(mfaResets.status, 'pending'), lte(mfaResets.effectiveAt, new Date(now()))))
        .returning();
      for (const reset of due) {
        await removeFactor(reset.userId);
        await audit.record({
          actor: { type: 'system', id: 'worker:mfa' },
          action: 'mfa.reset_complete',
          subjectUserId: reset.userId,
          target: { type: 'mfa_reset', id: reset.id },
          result: 'success',
          source: 'worker',
        });
        await deps.notify({ kind: 'mfa-reset-completed', userId: reset.userId });
      }
      return due.length;
    },
  };
}
