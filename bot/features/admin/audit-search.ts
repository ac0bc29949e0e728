/**
 * Audit search for the admin menu: the latest entries, entries whose action starts with a prefix, or entries
 * by or about one user, newest first, a page at a time. Only ids, codes and times are read: the sealed
 * details are never opened here.
 */
import { and, desc, eq, like, or, type SQL } from 'drizzle-orm';
import type { Db } from '#shared/db/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';

/** Entries per page (keeps a page well under Telegram's 4096 characters). */
export const AUDIT_PAGE_SIZE = 10;

export type AuditFilter = { kind: 'n' } | { kind: 'p'; prefix: string } | { kind: 'u'; userId: string };

export interface AuditLine {
  seq: number;
  occurredAt: Date;
  action: string;
  result: string;
  reasonCode: string | null;
  actorType: string;
  actorId: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PREFIX = /^[a-z][a-z0-9_.]{0,31}$/;

/** Reads `/admin audit <value>`: a user id or an action prefix; null when it is neither. */
export function parseAuditFilter(value: string | undefined): AuditFilter | null {
  const text = (value ?? '').trim();
  if (text === '') return { kind: 'n' };
  if (UUID.test(text.toLowerCase())) return { kind: 'u', userId: text.toLowerCase() };
  return PREFIX.test(text) ? { kind: 'p', prefix: text } : null;
}

/** One page (from 0) of matching entries, newest first, plus whether another page follows. */
export async function searchAudit(
  db: Db,
  filter: AuditFilter,
  page: number,
): Promise<{ rows: AuditLine[]; hasMore: boolean }> {
  const where: SQL | undefined =
    filter.kind === 'p'
      ? // `_` and `%` are LIKE wildcards: the prefix pattern allows `_`, so escape it.
        like(auditLog.action, `${filter.prefix.replace(/_/g, '\\_')}%`)
      : filter.kind === 'u'
        ? or(
            eq(auditLog.subjectUserId, filter.userId),
            and(eq(auditLog.actorType, 'user'), eq(auditLog.actorId, filter.userId)),
          )
        : undefined;
  const rows = await db
    .select({
      seq: auditLog.seq,
      occurredAt: auditLog.occurredAt,
      action: auditLog.action,
      result: auditLog.result,
      reasonCode: auditLog.reasonCode,
      actorType: auditLog.actorType,
      actorId: auditLog.actorId,
    })
    .from(auditLog)
    .where(where)
    .orderBy(desc(auditLog.seq))
    .offset(page * AUDIT_PAGE_SIZE)
    .limit(AUDIT_PAGE_SIZE + 1);
  return { rows: rows.slice(0, AUDIT_PAGE_SIZE), hasMore: rows.length > AUDIT_PAGE_SIZE };
}
