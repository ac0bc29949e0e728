/**
 * The vulnerability scanner: one row per scan run, and one row per distinct finding (by fingerprint) with
 * when it was first and last seen and when it was resolved. Nothing here is about a person: findings name
 * packages, settings and headers, never users. Domain logic lives in `shared/scanner/`.
 */
import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const SCAN_STATUSES = ['running', 'completed', 'failed'] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];
export const SCAN_TRIGGERS = ['schedule', 'bot', 'api'] as const;
export type ScanTrigger = (typeof SCAN_TRIGGERS)[number];
export const FINDING_SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
export const SCAN_FINDING_KINDS = ['dependency', 'config', 'http'] as const;

/** One scan: when it ran, what started it, and what it found (counts of the findings open after it). */
export const scanRuns = pgTable(
  'scan_runs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    status: text('status', { enum: SCAN_STATUSES }).notNull().default('running'),
    trigger: text('trigger', { enum: SCAN_TRIGGERS }).notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    critical: integer('critical').notNull().default(0),
    high: integer('high').notNull().default(0),
    medium: integer('medium').notNull().default(0),
    low: integer('low').notNull().default(0),
    /** Findings first seen (or seen again after being resolved) in this scan. */
    newCount: integer('new_count').notNull().default(0),
    /** Findings open before this scan and absent from it. */
    resolvedCount: integer('resolved_count').notNull().default(0),
    /** Installed packages checked and advisories loaded (how much the dependency check covered). */
    packagesChecked: integer('packages_checked').notNull().default(0),
    advisoriesLoaded: integer('advisories_loaded').notNull().default(0),
    /** Newest `modified` date in the advisory data: how current it was. */
    advisoriesUpdatedAt: timestamp('advisories_updated_at', { withTimezone: true }),
    /** Why a scan failed (an UPPER_SNAKE code, never a message that could carry data). */
    errorCode: text('error_code'),
  },
  (table) => [
    check('scan_runs_status_check', sql`${table.status} in ('running', 'completed', 'failed')`),
    check('scan_runs_trigger_check', sql`${table.trigger} in ('schedule', 'bot', 'api')`),
    check(
      'scan_runs_error_code_check',
      sql`${table.errorCode} is null or ${table.errorCode} ~ '^[A-Z][A-Z0-9_]{0,63}$'`,
    ),
    index('scan_runs_started_idx').on(table.startedAt),
  ],
);
export type ScanRunRow = typeof scanRuns.$inferSelect;

/** A distinct finding across scans. `resolved_at` null = open. */
export const scanFindings = pgTable(
  'scan_findings',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** SHA-256 (hex) of the finding's kind and key: the same problem keeps one row across scans. */
    fingerprint: text('fingerprint').notNull().unique(),
    kind: text('kind', { enum: SCAN_FINDING_KINDS }).notNull(),
    /** The advisory id or check name that produced it. */
    rule: text('rule').notNull(),
    severity: text('severity', { enum: FINDING_SEVERITIES }).notNull(),
    title: text('title').notNull(),
    detail: text('detail').notNull(),
    firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull(),
    /** The scan that (re)opened it: the report marks it new in that scan. */
    openedScanId: uuid('opened_scan_id')
      .notNull()
      .references(() => scanRuns.id),
    lastScanId: uuid('last_scan_id')
      .notNull()
      .references(() => scanRuns.id),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
  },
  (table) => [
    check('scan_findings_fingerprint_check', sql`${table.fingerprint} ~ '^[0-9a-f]{64}$'`),
    check('scan_findings_kind_check', sql`${table.kind} in ('dependency', 'config', 'http')`),
    check('scan_findings_severity_check', sql`${table.severity} in ('critical', 'high', 'medium', 'low')`),
    check('scan_findings_title_check', sql`length(${table.title}) between 1 and 200`),
    check('scan_findings_detail_check', sql`length(${table.detail}) <= 1000`),
    index('scan_findings_open_idx').on(table.resolvedAt, table.severity),
  ],
);
export type ScanFindingRow = typeof scanFindings.$inferSelect;
