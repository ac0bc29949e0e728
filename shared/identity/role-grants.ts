/**
 * The two-person rule for the admin role: one admin asks for a person to be made an admin, every admin is
 * told, and a *different* admin must approve before the request expires. A single stolen admin account can
 * then not mint a second one (and hide behind it). Demotions need no second admin (taking power away is the
 * safe direction) and stay with `changeRole`.
 *
 * Each step is single use: approving, rejecting and expiring move a pending row in one conditional UPDATE,
 * so a replayed or concurrent approval finds nothing left to approve.
 *
 * A deployment with one admin cannot approve anything: the bootstrap list (ADMIN_TELEGRAM_IDS) stays the
 * way to create admins there (see README).
 */
import { and, asc, eq, gt, lte, ne, sql } from 'drizzle-orm';
import type { AuditLog } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import { type UserRole, users } from '../db/schema.ts';
import { type RoleGrantRow, roleGrants } from '../db/schema-role-grants.ts';
import { defineErrorCodes, errorFactory, isDomainError } from '../errors.ts';
import { changeRole } from './roles.ts';
import { listActiveAdmins } from './users.ts';

export type { RoleGrantRow } from '../db/schema-role-grants.ts';

/** How long a request waits for a second admin. */
export const ROLE_GRANT_TTL_SECONDS = 24 * 3600;

export const RoleGrantErrors = defineErrorCodes({
  GRANT_NOT_FOUND: { status: 404, message: 'No such role request.' },
  GRANT_NOT_PENDING: { status: 409, message: 'This request was already approved, rejected or has expired.' },
  GRANT_EXPIRED: { status: 409, message: 'This request has expired: ask again if it is still needed.' },
  GRANT_PENDING: { status: 409, message: 'A request to make this person an admin is already waiting for approval.' },
  SELF_APPROVAL: {
    status: 403,
    message: 'You cannot approve your own request: another admin has to approve it.',
  },
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  ALREADY_ADMIN: { status: 409, message: 'This person is already an admin.' },
  TARGET_INACTIVE: { status: 409, message: 'Only an active account can be made an admin.' },
  NOT_AN_ADMIN: { status: 403, message: 'Only an active admin can ask for or decide role requests.' },
  REQUESTER_NOT_ADMIN: {
    status: 409,
    message: 'The admin who asked is no longer an admin, so the request cannot be approved.',
  },
});
const fail = errorFactory(RoleGrantErrors);

/** What role requests ask the notification queue to send (ids only; the worker renders the text). */
export type RoleGrantNotice =
  | { kind: 'role-grant-requested'; userId: string; grantId: string }
  | { kind: 'role-grant-decided'; userId: string; grantId: string };

async function isActiveAdmin(db: Db, userId: string): Promise<boolean> {
  const [row] = await db.select({ role: users.role, status: users.status }).from(users).where(eq(users.id, userId));
  return row?.role === 'admin' && row.status === 'active';
}

/** A request by id, or null. */
export async function findRoleGrant(db: Db, id: string): Promise<RoleGrantRow | null> {
  const [row] = await db.select().from(roleGrants).where(eq(roleGrants.id, id)).limit(1);
  return row ?? null;
}

/** Pending requests that have not expired, oldest first. */
export async function listPendingRoleGrants(db: Db, now: Date = new Date()): Promise<RoleGrantRow[]> {
  return db
    .select()
    .from(roleGrants)
    .where(and(eq(roleGrants.status, 'pending'), gt(roleGrants.expiresAt, now)))
    .orderBy(asc(roleGrants.createdAt));
}

/**
 * Marks every pending request past its expiry as expired. Returns them, so the caller can audit each.
 * @example for (const grant of await expireRoleGrants(db)) await audit.record({ ... 'admin.role_grant_expired' ... })
 */
export async function expireRoleGrants(db: Db, now: Date = new Date()): Promise<RoleGrantRow[]> {
  return db
    .update(roleGrants)
    .set({ status: 'expired', decidedAt: now })
    .where(and(eq(roleGrants.status, 'pending'), lte(roleGrants.expiresAt, now)))
    .returning();
}

/**
 * An admin asks for `targetUserId` to be made an admin. Nothing changes until another admin approves.
 * @throws DomainError NOT_AN_ADMIN, USER_NOT_FOUND, ALREADY_ADMIN, TARGET_INACTIVE, GRANT_PENDING
 */
export async function requestRoleGrant(
  db: Db,
  input: { targetUserId: string; requestedBy: string; now?: Date; ttlSeconds?: number },
): Promise<RoleGrantRow> {
  const now = input.now ?? new Date();
  if (!(await isActiveAdmin(db, input.requestedBy))) throw fail('NOT_AN_ADMIN');
  const [target] = await db
    .select({ role: users.role, status: users.status })
    .from(users)
    .where(eq(users.id, input.targetUserId));
  if (!target) throw fail('USER_NOT_FOUND');
  if (target.role === 'admin') throw fail('ALREADY_ADMIN');
  if (target.status !== 'active') throw fail('TARGET_INACTIVE');
  // A lapsed request must not block a new one (the one-pending index counts it until it is marked).
  await db
    .update(roleGrants)
    .set({ status: 'expired', decidedAt: now })
    .where(
      and(
        eq(roleGrants.targetUserId, input.targetUserId),
        eq(roleGrants.status, 'pending'),
        lte(roleGrants.expiresAt, now),
      ),
    );
  const [row] = await db
    .insert(roleGrants)
    .values({
      targetUserId: input.targetUserId,
      role: 'admin',
      requestedBy: input.requestedBy,
      createdAt: now,
      expiresAt: new Date(now.getTime() + (input.ttlSeconds ?? ROLE_GRANT_TTL_SECONDS) * 1000),
    })
    // The partial unique index (one pending request per person) settles races between two admins asking.
    .onConflictDoNothing()
    .returning();
  if (!row) throw fail('GRANT_PENDING');
  return row;
}

/** Why a decision on a request was refused, from the row as it stands. */
function refusal(row: RoleGrantRow | null, actorId: string, now: Date, approving: boolean): never {
  if (!row) throw fail('GRANT_NOT_FOUND');
  if (row.status !== 'pending') throw fail(row.status === 'expired' ? 'GRANT_EXPIRED' : 'GRANT_NOT_PENDING');
  if (row.expiresAt.getTime() <= now.getTime()) throw fail('GRANT_EXPIRED');
  if (approving && row.requestedBy === actorId) throw fail('SELF_APPROVAL');
  throw fail('GRANT_NOT_PENDING');
}

/**
 * A second admin approves: the request is consumed (single use) and the person becomes an admin.
 * @throws DomainError NOT_AN_ADMIN, GRANT_NOT_FOUND, SELF_APPROVAL, GRANT_EXPIRED, GRANT_NOT_PENDING,
 *   REQUESTER_NOT_ADMIN, and changeRole's USER_NOT_FOUND
 */
export async function approveRoleGrant(
  db: Db,
  input: { grantId: string; approverId: string; now?: Date },
): Promise<{ grant: RoleGrantRow; changed: boolean }> {
  const now = input.now ?? new Date();
  if (!(await isActiveAdmin(db, input.approverId))) throw fail('NOT_AN_ADMIN');
  const current = await findRoleGrant(db, input.grantId);
  // The asking admin must still be one: a demoted (or blocked) admin's request loses its authority.
  if (current && current.status === 'pending' && !(await isActiveAdmin(db, current.requestedBy))) {
    throw fail('REQUESTER_NOT_ADMIN');
  }
  // One conditional UPDATE: pending, not expired, and not the requester's own (the two-person rule).
  const [claimed] = await db
    .update(roleGrants)
    .set({ status: 'approved', decidedBy: input.approverId, decidedAt: now })
    .where(
      and(
        eq(roleGrants.id, input.grantId),
        eq(roleGrants.status, 'pending'),
        gt(roleGrants.expiresAt, now),
        ne(roleGrants.requestedBy, input.approverId),
      ),
    )
    .returning();
  if (!claimed) refusal(await findRoleGrant(db, input.grantId), input.approverId, now, true);
  try {
    // The approver's authority is re-checked under the role lock (a concurrent demotion wins).
    const result = await changeRole(db, { userId: claimed.targetUserId, role: 'admin', actorId: input.approverId });
    return { grant: claimed, changed: result.changed };
  } catch (error) {
    // The role did not change: the request goes back to waiting rather than claiming an approval.
    await db
      .update(roleGrants)
      .set({ status: 'pending', decidedBy: null, decidedAt: null })
      .where(and(eq(roleGrants.id, claimed.id), eq(roleGrants.status, 'approved')));
    throw error;
  }
}

/**
 * An admin rejects a request (the one who asked may withdraw it this way too).
 * @throws DomainError NOT_AN_ADMIN, GRANT_NOT_FOUND, GRANT_EXPIRED, GRANT_NOT_PENDING
 */
export async function rejectRoleGrant(
  db: Db,
  input: { grantId: string; actorId: string; now?: Date },
): Promise<RoleGrantRow> {
  const now = input.now ?? new Date();
  if (!(await isActiveAdmin(db, input.actorId))) throw fail('NOT_AN_ADMIN');
  const [rejected] = await db
    .update(roleGrants)
    .set({ status: 'rejected', decidedBy: input.actorId, decidedAt: now })
    .where(and(eq(roleGrants.id, input.grantId), eq(roleGrants.status, 'pending'), gt(roleGrants.expiresAt, now)))
    .returning();
  if (!rejected) refusal(await findRoleGrant(db, input.grantId), input.actorId, now, false);
  return rejected;
}

/** Counts pending requests (the admin menu's badge). */
export async function countPendingRoleGrants(db: Db, now: Date = new Date()): Promise<number> {
  const [row] = await db
    .select({ count: sql<number>`count(*)::int` })
    .from(roleGrants)
    .where(and(eq(roleGrants.status, 'pending'), gt(roleGrants.expiresAt, now)));
  return Number(row?.count ?? 0);
}

/** Told when a role changes (the person's own notice). */
export type RoleChangedNotice = { kind: 'role-changed'; userId: string; role: UserRole };

export interface RoleGrantServiceDeps {
  db: Db;
  audit: Pick<AuditLog, 'record'>;
  /** Queues a Telegram notice (ids only). */
  notify: (notice: RoleGrantNotice | RoleChangedNotice) => Promise<void>;
  /** Applies a new role to the person's signed-in sessions at once (their next request). */
  setSessionRole?: ((userId: string, role: UserRole) => Promise<void>) | undefined;
  now?: () => Date;
}

/** Who acts, and through which face (recorded in the audit trail). */
export interface RoleGrantContext {
  actorUserId: string;
  source: 'api' | 'bot';
  requestId?: string | undefined;
  ip?: string | undefined;
}

export interface RoleGrantService {
  /** Asks for `targetUserId` to be made an admin; audited and announced to every admin. */
  request(targetUserId: string, context: RoleGrantContext): Promise<RoleGrantRow>;
  /** A second admin approves: the role changes; audited, announced to every admin and the person. */
  approve(grantId: string, context: RoleGrantContext): Promise<RoleGrantRow>;
  /** An admin rejects (or the requester withdraws); audited, announced to every admin. */
  reject(grantId: string, context: RoleGrantContext): Promise<RoleGrantRow>;
  /**
   * Marks lapsed requests expired; audited (actor `system`, through the face that noticed) and announced.
   * Called before every listing and decision, so no sweep job is needed.
   */
  expireDue(source?: 'api' | 'bot' | 'worker'): Promise<RoleGrantRow[]>;
  /** Requests waiting for a second admin. */
  pending(source?: 'api' | 'bot'): Promise<RoleGrantRow[]>;
}

/** The audit action of each step (`admin.role_grant_*`). */
export const ROLE_GRANT_ACTIONS = {
  requested: 'admin.role_grant_requested',
  approved: 'admin.role_grant_approved',
  rejected: 'admin.role_grant_rejected',
  expired: 'admin.role_grant_expired',
} as const;

/**
 * The two-person rule with its side effects: every step is audited with the acting admin and announced in
 * Telegram to every active admin (and the approved person), through notices that carry ids only.
 */
export function createRoleGrantService(deps: RoleGrantServiceDeps): RoleGrantService {
  const now = deps.now ?? (() => new Date());
  const { db, audit } = deps;

  const announce = async (kind: RoleGrantNotice['kind'], grantId: string) => {
    for (const admin of await listActiveAdmins(db)) await deps.notify({ kind, userId: admin.id, grantId });
  };

  const record = (
    action: string,
    grant: { id: string; targetUserId: string } | { id: string; targetUserId?: undefined },
    context: RoleGrantContext | { system: 'api' | 'bot' | 'worker' },
    result: 'success' | 'denied',
    reasonCode: string,
  ) =>
    audit.record({
      actor: 'system' in context ? { type: 'system', id: 'role-grants' } : { type: 'user', id: context.actorUserId },
      action,
      target: { type: 'role_grant', id: grant.id },
      ...(grant.targetUserId ? { subjectUserId: grant.targetUserId } : {}),
      result,
      reasonCode,
      source: 'system' in context ? context.system : context.source,
      ...('requestId' in context && context.requestId ? { requestId: context.requestId } : {}),
      ...('ip' in context && context.ip ? { ip: context.ip } : {}),
    });

  /** Refusals are audited too (a self-approval attempt is worth seeing), then rethrown. */
  const audited = async <T>(
    action: string,
    grantId: string,
    context: RoleGrantContext,
    run: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (isDomainError(error)) {
        const grant = await findRoleGrant(db, grantId).catch(() => null);
        await record(action, grant ?? { id: grantId }, context, 'denied', error.code);
      }
      throw error;
    }
  };

  const service: RoleGrantService = {
    async expireDue(source = 'worker') {
      const expired = await expireRoleGrants(db, now());
      for (const grant of expired) {
        await record(ROLE_GRANT_ACTIONS.expired, grant, { system: source }, 'success', 'EXPIRED');
        await announce('role-grant-decided', grant.id);
      }
      return expired;
    },

    async pending(source) {
      await service.expireDue(source);
      return listPendingRoleGrants(db, now());
    },

    async request(targetUserId, context) {
      await service.expireDue(context.source);
      let grant: RoleGrantRow;
      try {
        grant = await requestRoleGrant(db, { targetUserId, requestedBy: context.actorUserId, now: now() });
      } catch (error) {
        if (isDomainError(error)) {
          await audit.record({
            actor: { type: 'user', id: context.actorUserId },
            action: ROLE_GRANT_ACTIONS.requested,
            target: { type: 'user', id: targetUserId },
            result: 'denied',
            reasonCode: error.code,
            source: context.source,
            ...(context.requestId ? { requestId: context.requestId } : {}),
            ...(context.ip ? { ip: context.ip } : {}),
          });
        }
        throw error;
      }
      await record(ROLE_GRANT_ACTIONS.requested, grant, context, 'success', 'APPROVAL_REQUIRED');
      await announce('role-grant-requested', grant.id);
      return grant;
    },

    async approve(grantId, context) {
      await service.expireDue(context.source);
      const { grant, changed } = await audited(ROLE_GRANT_ACTIONS.approved, grantId, context, () =>
        approveRoleGrant(db, { grantId, approverId: context.actorUserId, now: now() }),
      );
      await record(ROLE_GRANT_ACTIONS.approved, grant, context, 'success', 'TWO_PERSON_APPROVED');
      if (changed) {
        // Sessions carry the role the API's auth check reads: the change applies to the next request.
        await deps.setSessionRole?.(grant.targetUserId, 'admin');
        await audit.record({
          actor: { type: 'user', id: context.actorUserId },
          subjectUserId: grant.targetUserId,
          action: 'admin.role_change',
          target: { type: 'user', id: grant.targetUserId },
          result: 'success',
          reasonCode: 'ROLE_GRANTED_ADMIN',
          source: context.source,
          ...(context.requestId ? { requestId: context.requestId } : {}),
          ...(context.ip ? { ip: context.ip } : {}),
        });
        await deps.notify({ kind: 'role-changed', userId: grant.targetUserId, role: 'admin' });
      }
      await announce('role-grant-decided', grant.id);
      return grant;
    },

    async reject(grantId, context) {
      await service.expireDue(context.source);
      const grant = await audited(ROLE_GRANT_ACTIONS.rejected, grantId, context, () =>
        rejectRoleGrant(db, { grantId, actorId: context.actorUserId, now: now() }),
      );
      await record(ROLE_GRANT_ACTIONS.rejected, grant, context, 'success', 'REJECTED');
      await announce('role-grant-decided', grant.id);
      return grant;
    },
  };
  return service;
}
