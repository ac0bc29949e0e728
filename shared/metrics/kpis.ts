/**
 * The security KPIs shown in the admin views (bot /stats, the Mini App dashboard, GET
 * /api/v1/admin/security/overview), computed from the data itself: the audit trail for sign-ins, the data
 * subject requests for the GDPR on-time rate, the scanner's open findings. A KPI with no data is null.
 */
import { and, count, gte, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { auditLog } from '../db/schema-audit.ts';
import { privacyRequests } from '../db/schema-privacy.ts';
import { scanFindings } from '../db/schema-scanner.ts';

/** The window the rates are computed over. */
export const KPI_WINDOW_DAYS = 30;
/** Audit actions that are a sign-in attempt (first factor, or the second factor that completes it). */
export const SIGN_IN_ACTIONS = ['auth.login', 'auth.mfa_verify'] as const;

export interface SecurityKpis {
  /** Successful sign-ins / sign-in attempts (0-1). */
  authSuccessRate: number | null;
  /** Failed sign-ins / sign-in attempts (0-1). */
  failedLoginRate: number | null;
  /** Data subject requests answered by their deadline / requests answered or overdue (0-1). */
  dsrOnTimeRate: number | null;
  /** Open scan findings of severity critical or high. */
  highRiskFindings: number | null;
}

export interface HourBucket {
  hour: string;
  count: number;
  failures: number;
}

const ratio = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 10_000) / 10_000 : null);

/** Runs a query whose table another capability owns; null when it is not there (not migrated yet). */
async function optional<T>(query: () => Promise<T>): Promise<T | null> {
  try {
    return await query();
  } catch {
    return null;
  }
}

/** Computes the KPIs over the last KPI_WINDOW_DAYS. */
export async function computeKpis(db: Db, now = new Date()): Promise<SecurityKpis> {
  const since = new Date(now.getTime() - KPI_WINDOW_DAYS * 86_400_000);
  const results = await db
    .select({ result: auditLog.result, n: count() })
    .from(auditLog)
    .where(and(inArray(auditLog.action, [...SIGN_IN_ACTIONS]), gte(auditLog.occurredAt, since)))
    .groupBy(auditLog.result);
  const by = (result: string) => Number(results.find((row) => row.result === result)?.n ?? 0);
  const success = by('success');
  const failure = by('failure') + by('denied');
  const attempts = success + failure;

  const dsr = await optional(async () => {
    const [row] = await db
      .select({
        onTime: sql<number>`count(*) filter (where ${privacyRequests.status} = 'completed' and ${privacyRequests.completedAt} <= coalesce(${privacyRequests.extendedUntil}, ${privacyRequests.dueAt}))`,
        answered: sql<number>`count(*) filter (where ${privacyRequests.status} = 'completed')`,
        overdue: sql<number>`count(*) filter (where ${privacyRequests.status} not in ('completed', 'cancelled') and coalesce(${privacyRequests.extendedUntil}, ${privacyRequests.dueAt}) < ${now})`,
      })
      .from(privacyRequests)
      .where(gte(privacyRequests.createdAt, since));
    return row ? ratio(Number(row.onTime), Number(row.answered) + Number(row.overdue)) : null;
  });

  const findings = await optional(async () => {
    const [row] = await db
      .select({ n: count() })
      .from(scanFindings)
      .where(and(isNull(scanFindings.resolvedAt), inArray(scanFindings.severity, ['critical', 'high'])));
    return Number(row?.n ?? 0);
  });

  return {
    authSuccessRate: ratio(success, attempts),
    failedLoginRate: ratio(failure, attempts),
    dsrOnTimeRate: dsr,
    highRiskFindings: findings,
  };
}

/** Audit events per hour over the last `hours` (oldest first), with how many were failures or denials. */
export async function eventsByHour(db: Db, hours = 24, now = new Date()): Promise<HourBucket[]> {
  const since = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000 - (hours - 1) * 3_600_000);
  const rows = await db
    .select({
      hour: sql<string>`to_char(date_trunc('hour', ${auditLog.occurredAt} at time zone 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"')`,
      n: count(),
      failures: sql<number>`count(*) filter (where ${auditLog.result} in ('failure', 'denied'))`,
    })
    .from(auditLog)
    .where(gte(auditLog.occurredAt, since))
    .groupBy(sql`1`);
  const byHour = new Map(rows.map((row) => [row.hour, row]));
  return Array.from({ length: hours }, (_, index) => {
    const hour = new Date(since.getTime() + index * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const row = byHour.get(hour);
    return { hour, count: Number(row?.n ?? 0), failures: Number(row?.failures ?? 0) };
  });
}

/** Open data subject requests and overdue ones, by kind (for the metrics gauges). */
export async function dsrGauges(db: Db, now = new Date()) {
  return optional(async () =>
    db
      .select({
        kind: privacyRequests.kind,
        open: sql<number>`count(*) filter (where ${privacyRequests.status} not in ('completed', 'cancelled', 'failed'))`,
        overdue: sql<number>`count(*) filter (where ${privacyRequests.status} not in ('completed', 'cancelled', 'failed') and coalesce(${privacyRequests.extendedUntil}, ${privacyRequests.dueAt}) < ${now})`,
      })
      .from(privacyRequests)
      .groupBy(privacyRequests.kind),
  );
}

/** Open findings by severity and kind (for the metrics gauge). */
export async function findingGauges(db: Db) {
  return optional(async () =>
    db
      .select({ severity: scanFindings.severity, kind: scanFindings.kind, n: count() })
      .from(scanFindings)
      .where(isNull(scanFindings.resolvedAt))
      .groupBy(scanFindings.severity, scanFindings.kind),
  );
}
