/**
 * Data subject requests and their deadlines (GDPR Art. 12(3)): each request is due one month after it is
 * received; an extension of up to two more months needs a reason the person is told. Open requests near or past
 * their deadline are listed for the admins' alert.
 */
import { and, asc, desc, eq, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import { hashToken } from '../crypto/hash.ts';
import { randomToken } from '../crypto/random.ts';
import type { Db } from '../db/index.ts';
import {
  type PrivacyRequestKind,
  type PrivacyRequestRow,
  type PrivacyRequestStatus,
  privacyRequests,
} from '../db/schema-privacy.ts';
import { privacyError } from './errors.ts';

/** Art. 12(3): one month to answer. */
export const RESPONSE_MONTHS = 1;
/** Art. 12(3): "extended by two further months where necessary". */
export const MAX_EXTENSION_MONTHS = 2;
/** Admins are alerted this long before a deadline. */
export const NEAR_DUE_DAYS = 3;
/** A download link works this long. */
export const DOWNLOAD_LINK_TTL_SECONDS = 15 * 60;
/** Open states: the request still needs work. */
export const OPEN_STATUSES: readonly PrivacyRequestStatus[] = ['pending', 'scheduled', 'processing'];

/** `date` plus `months` calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb). */
export function addMonths(date: Date, months: number): Date {
  const result = new Date(date.getTime());
  const day = result.getUTCDate();
  result.setUTCDate(1);
  result.setUTCMonth(result.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(result.getUTCFullYear(), result.getUTCMonth() + 1, 0)).getUTCDate();
  result.setUTCDate(Math.min(day, lastDay));
  return result;
}

/** The deadline in force: the extended one when there is one. */
export function deadlineOf(row: Pick<PrivacyRequestRow, 'dueAt' | 'extendedUntil'>): Date {
  return row.extendedUntil ?? row.dueAt;
}

/** Records a request received now; `status` is where it starts. */
export async function createRequest(
  db: Db,
  input: {
    userId: string;
    kind: PrivacyRequestKind;
    status: PrivacyRequestStatus;
    effectiveAt?: Date;
    now?: Date;
  },
): Promise<PrivacyRequestRow> {
  const now = input.now ?? new Date();
  const [row] = await db
    .insert(privacyRequests)
    .values({
      userId: input.userId,
      kind: input.kind,
      status: input.status,
      createdAt: now,
      dueAt: addMonths(now, RESPONSE_MONTHS),
      effectiveAt: input.effectiveAt ?? null,
      completedAt: input.status === 'completed' ? now : null,
      progress: input.kind === 'access' ? 0 : null,
    })
    .returning();
  if (!row) throw new Error('The request was not stored');
  return row;
}

export async function getRequest(db: Db, id: string): Promise<PrivacyRequestRow | null> {
  const [row] = await db.select().from(privacyRequests).where(eq(privacyRequests.id, id));
  return row ?? null;
}

/** The person's open request of a kind, if any (one export or erasure at a time). */
export async function openRequestOf(db: Db, userId: string, kind: PrivacyRequestKind) {
  const [row] = await db
    .select()
    .from(privacyRequests)
    .where(
      and(
        eq(privacyRequests.userId, userId),
        eq(privacyRequests.kind, kind),
        inArray(privacyRequests.status, [...OPEN_STATUSES]),
      ),
    )
    .limit(1);
  return row ?? null;
}

/** The person's requests, newest first. */
export async function listRequests(db: Db, userId: string, limit = 50): Promise<PrivacyRequestRow[]> {
  return db
    .select()
    .from(privacyRequests)
    .where(eq(privacyRequests.userId, userId))
    .orderBy(desc(privacyRequests.createdAt))
    .limit(limit);
}

/** Open requests of everyone, most urgent first (the admins' queue). */
export async function requestQueue(db: Db, limit = 200): Promise<PrivacyRequestRow[]> {
  return db
    .select()
    .from(privacyRequests)
    .where(inArray(privacyRequests.status, [...OPEN_STATUSES]))
    .orderBy(asc(sql`coalesce(${privacyRequests.extendedUntil}, ${privacyRequests.dueAt})`))
    .limit(limit);
}

/** Open requests due within NEAR_DUE_DAYS of `now`, or overdue. */
export async function requestsNeedingAttention(
  db: Db,
  now: Date = new Date(),
): Promise<{ overdue: PrivacyRequestRow[]; nearDue: PrivacyRequestRow[] }> {
  const horizon = new Date(now.getTime() + NEAR_DUE_DAYS * 86_400_000);
  const rows = await db
    .select()
    .from(privacyRequests)
    .where(
      and(
        inArray(privacyRequests.status, [...OPEN_STATUSES]),
        lte(sql`coalesce(${privacyRequests.extendedUntil}, ${privacyRequests.dueAt})`, horizon),
      ),
    )
    .orderBy(asc(sql`coalesce(${privacyRequests.extendedUntil}, ${privacyRequests.dueAt})`));
  return {
    overdue: rows.filter((row) => deadlineOf(row).getTime() <= now.getTime()),
    nearDue: rows.filter((row) => deadlineOf(row).getTime() > now.getTime()),
  };
}

/**
 * Extends an open request's deadline to `months` (1 or 2) months after its original due date, with a reason.
 * @throws DomainError REQUEST_NOT_FOUND, EXTENSION_NOT_ALLOWED (closed, or not later than the current one).
 */
export async function extendRequest(
  db: Db,
  input: { requestId: string; months: number; reason: string },
): Promise<PrivacyRequestRow> {
  const row = await getRequest(db, input.requestId);
  if (!row) throw privacyError('REQUEST_NOT_FOUND');
  if (!Number.isInteger(input.months) || input.months < 1 || input.months > MAX_EXTENSION_MONTHS) {
    throw privacyError('EXTENSION_NOT_ALLOWED', { field: 'months' });
  }
  const until = addMonths(row.dueAt, input.months);
  if (!OPEN_STATUSES.includes(row.status) || (row.extendedUntil && row.extendedUntil.getTime() >= until.getTime())) {
    throw privacyError('EXTENSION_NOT_ALLOWED');
  }
  const [updated] = await db
    .update(privacyRequests)
    .set({ extendedUntil: until, extensionReason: input.reason })
    .where(and(eq(privacyRequests.id, row.id), inArray(privacyRequests.status, [...OPEN_STATUSES])))
    .returning();
  if (!updated) throw privacyError('EXTENSION_NOT_ALLOWED');
  return updated;
}

/**
 * Cancels an erasure during its grace period.
 * @returns the cancelled request, or null when it is not the person's or not cancellable.
 */
export async function cancelErasure(db: Db, userId: string, requestId: string): Promise<PrivacyRequestRow | null> {
  const [row] = await db
    .update(privacyRequests)
    .set({ status: 'cancelled', completedAt: new Date() })
    .where(
      and(
        eq(privacyRequests.id, requestId),
        eq(privacyRequests.userId, userId),
        eq(privacyRequests.kind, 'erasure'),
        eq(privacyRequests.status, 'scheduled'),
      ),
    )
    .returning();
  return row ?? null;
}

/** Erasures whose grace period has ended and that have not finished (including ones interrupted mid-way). */
export async function dueErasures(db: Db, now: Date = new Date()): Promise<PrivacyRequestRow[]> {
  return db
    .select()
    .from(privacyRequests)
    .where(
      and(
        eq(privacyRequests.kind, 'erasure'),
        or(
          and(eq(privacyRequests.status, 'scheduled'), lte(privacyRequests.effectiveAt, now)),
          eq(privacyRequests.status, 'processing'),
        ),
      ),
    )
    .orderBy(asc(privacyRequests.effectiveAt));
}

/** Mints a fresh download link token for a finished export (only its hash is stored). */
export async function mintDownloadToken(
  db: Db,
  requestId: string,
  now: Date = new Date(),
): Promise<{ token: string; expiresAt: Date }> {
  const token = randomToken(32);
  const expiresAt = new Date(now.getTime() + DOWNLOAD_LINK_TTL_SECONDS * 1000);
  await db
    .update(privacyRequests)
    .set({ downloadTokenHash: hashToken(token), downloadExpiresAt: expiresAt })
    .where(eq(privacyRequests.id, requestId));
  return { token, expiresAt };
}

/** The finished export a download token opens, or null (unknown, expired, or not a finished export). */
export async function requestForDownloadToken(
  db: Db,
  token: string,
  now: Date = new Date(),
): Promise<PrivacyRequestRow | null> {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
  // Looked up by hash: the equality is on a hash of a 256-bit secret, so its timing tells an attacker nothing.
  const [row] = await db
    .select()
    .from(privacyRequests)
    .where(and(eq(privacyRequests.downloadTokenHash, hashToken(token)), eq(privacyRequests.status, 'completed')));
  if (!row?.downloadExpiresAt || row.downloadExpiresAt.getTime() <= now.getTime()) return null;
  return row;
}

/** Marks an open request of a kind done (rectification, restriction, objection are answered at once). */
export async function completeRequest(db: Db, requestId: string): Promise<void> {
  await db
    .update(privacyRequests)
    .set({ status: 'completed', completedAt: new Date() })
    .where(and(eq(privacyRequests.id, requestId), isNull(privacyRequests.completedAt)));
}
