/**
 * Storing scans: each run's findings are merged into the stored ones by fingerprint (first seen kept, last
 * seen moved on), findings absent from the run are resolved, and the run records what was new and what
 * went away. Reading: the latest report, and the open-finding counts the KPIs and metrics use.
 */
import { and, desc, eq, inArray, isNull, notInArray, sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import {
  type ScanFindingRow,
  type ScanRunRow,
  type ScanTrigger,
  scanFindings,
  scanRuns,
} from '../db/schema-scanner.ts';
import type { Finding, FindingKind } from './finding.ts';
import { SEVERITY_RANK, type Severity } from './osv.ts';

/** Serialises scan completions across worker processes (two scans merging at once would race on rows). */
const SCAN_LOCK_KEY = 7_201_522_901;

export type SeverityCounts = Record<Severity, number>;

export interface ScanStats {
  packagesChecked: number;
  advisoriesLoaded: number;
  advisoriesUpdatedAt: Date | undefined;
}

export interface ScanOutcome {
  scanId: string;
  counts: SeverityCounts;
  /** Findings opened by this scan (first seen, or back after being resolved). */
  opened: ScanFindingRow[];
  resolved: number;
}

export interface ReportFinding {
  id: string;
  kind: FindingKind;
  rule: string;
  severity: Severity;
  title: string;
  detail: string;
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** Opened by this scan. */
  new: boolean;
}

export interface ScanReport {
  id: string;
  trigger: ScanTrigger;
  startedAt: Date;
  finishedAt: Date;
  counts: SeverityCounts;
  newCount: number;
  resolvedCount: number;
  packagesChecked: number;
  advisoriesLoaded: number;
  advisoriesUpdatedAt: Date | null;
  findings: ReportFinding[];
}

const zeroCounts = (): SeverityCounts => ({ critical: 0, high: 0, medium: 0, low: 0 });

/** Records the start of a scan and returns its id. */
export async function startScanRun(db: Db, trigger: ScanTrigger, now = new Date()): Promise<string> {
  const [row] = await db.insert(scanRuns).values({ trigger, startedAt: now }).returning({ id: scanRuns.id });
  if (!row) throw new Error('scan_runs insert returned no row');
  return row.id;
}

/** Marks a scan failed with an UPPER_SNAKE code. */
export async function failScanRun(db: Db, scanId: string, errorCode: string, now = new Date()): Promise<void> {
  await db
    .update(scanRuns)
    .set({ status: 'failed', finishedAt: now, errorCode })
    .where(and(eq(scanRuns.id, scanId), eq(scanRuns.status, 'running')));
}

/**
 * Merges a scan's findings into the stored ones and completes the run.
 * The same fingerprint twice in one scan counts once, at its highest severity.
 */
export async function completeScanRun(
  db: Db,
  scanId: string,
  findings: readonly Finding[],
  stats: ScanStats,
  now = new Date(),
): Promise<ScanOutcome> {
  const unique = new Map<string, Finding>();
  for (const item of findings) {
    const existing = unique.get(item.fingerprint);
    if (!existing || SEVERITY_RANK[item.severity] > SEVERITY_RANK[existing.severity])
      unique.set(item.fingerprint, item);
  }
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${SCAN_LOCK_KEY})`);
    const fingerprints = [...unique.keys()];
    const known = fingerprints.length
      ? await tx.select().from(scanFindings).where(inArray(scanFindings.fingerprint, fingerprints))
      : [];
    const byFingerprint = new Map(known.map((row) => [row.fingerprint, row]));
    const opened: ScanFindingRow[] = [];
    const counts = zeroCounts();
    for (const item of unique.values()) {
      counts[item.severity]++;
      const row = byFingerprint.get(item.fingerprint);
      const content = {
        kind: item.kind,
        rule: item.rule,
        severity: item.severity,
        title: item.title,
        detail: item.detail,
      };
      if (!row) {
        const [inserted] = await tx
          .insert(scanFindings)
          .values({
            fingerprint: item.fingerprint,
            ...content,
            firstSeenAt: now,
            lastSeenAt: now,
            openedScanId: scanId,
            lastScanId: scanId,
          })
          .returning();
        if (inserted) opened.push(inserted);
        continue;
      }
      const reopened = row.resolvedAt !== null;
      const [updated] = await tx
        .update(scanFindings)
        .set({
          ...content,
          lastSeenAt: now,
          lastScanId: scanId,
          ...(reopened ? { resolvedAt: null, openedScanId: scanId } : {}),
        })
        .where(eq(scanFindings.id, row.id))
        .returning();
      if (reopened && updated) opened.push(updated);
    }
    // Open before, absent now: resolved by this scan.
    const resolvedRows = await tx
      .update(scanFindings)
      .set({ resolvedAt: now })
      .where(
        and(
          isNull(scanFindings.resolvedAt),
          fingerprints.length ? notInArray(scanFindings.fingerprint, fingerprints) : undefined,
        ),
      )
      .returning({ id: scanFindings.id });
    await tx
      .update(scanRuns)
      .set({
        status: 'completed',
        finishedAt: now,
        ...counts,
        newCount: opened.length,
        resolvedCount: resolvedRows.length,
        packagesChecked: stats.packagesChecked,
        advisoriesLoaded: stats.advisoriesLoaded,
        advisoriesUpdatedAt: stats.advisoriesUpdatedAt ?? null,
      })
      .where(eq(scanRuns.id, scanId));
    return { scanId, counts, opened, resolved: resolvedRows.length };
  });
}

const bySeverityThenNew = (a: ReportFinding, b: ReportFinding) =>
  SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
  Number(b.new) - Number(a.new) ||
  a.title.localeCompare(b.title);

function toReport(run: ScanRunRow, rows: readonly ScanFindingRow[]): ScanReport {
  return {
    id: run.id,
    trigger: run.trigger,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt ?? run.startedAt,
    counts: { critical: run.critical, high: run.high, medium: run.medium, low: run.low },
    newCount: run.newCount,
    resolvedCount: run.resolvedCount,
    packagesChecked: run.packagesChecked,
    advisoriesLoaded: run.advisoriesLoaded,
    advisoriesUpdatedAt: run.advisoriesUpdatedAt,
    findings: rows
      .map((row) => ({
        id: row.id,
        kind: row.kind,
        rule: row.rule,
        severity: row.severity,
        title: row.title,
        detail: row.detail,
        firstSeenAt: row.firstSeenAt,
        lastSeenAt: row.lastSeenAt,
        new: row.openedScanId === run.id,
      }))
      .sort(bySeverityThenNew),
  };
}

/** The latest completed scan with the findings open after it (most severe first, new first), or null. */
export async function latestScanReport(db: Db): Promise<ScanReport | null> {
  const [run] = await db
    .select()
    .from(scanRuns)
    .where(eq(scanRuns.status, 'completed'))
    .orderBy(desc(scanRuns.finishedAt))
    .limit(1);
  if (!run) return null;
  const rows = await db
    .select()
    .from(scanFindings)
    .where(and(eq(scanFindings.lastScanId, run.id), isNull(scanFindings.resolvedAt)));
  return toReport(run, rows);
}

/** True while a scan is recorded as running (started, not finished). */
export async function isScanRunning(db: Db): Promise<boolean> {
  const [row] = await db.select({ id: scanRuns.id }).from(scanRuns).where(eq(scanRuns.status, 'running')).limit(1);
  return row !== undefined;
}

/**
 * How many findings are open, optionally of the given severities: the "high-risk scan findings" KPI is
 * `countOpenFindings(db, ['critical', 'high'])`.
 */
export async function countOpenFindings(db: Db, severities?: readonly Severity[]): Promise<number> {
  const [row] = await db
    .select({ count: sql<number>`count(*)::int` })
    .from(scanFindings)
    .where(
      and(
        isNull(scanFindings.resolvedAt),
        severities && severities.length > 0 ? inArray(scanFindings.severity, [...severities]) : undefined,
      ),
    );
  return Number(row?.count ?? 0);
}

/** Open findings by severity and kind (for the `scan_findings` gauge). */
export async function openFindingCounts(db: Db): Promise<{ severity: Severity; kind: FindingKind; count: number }[]> {
  const rows = await db
    .select({ severity: scanFindings.severity, kind: scanFindings.kind, count: sql<number>`count(*)::int` })
    .from(scanFindings)
    .where(isNull(scanFindings.resolvedAt))
    .groupBy(scanFindings.severity, scanFindings.kind);
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}
