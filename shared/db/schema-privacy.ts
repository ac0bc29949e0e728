/**
 * Privacy: consent records (append-only), data subject requests with their deadlines, erasure progress (so a
 * crashed erasure resumes), the person's restriction and objections, and the one analytics consumer (usage
 * counters, written only with consent). Domain logic lives in `shared/privacy/`.
 */
import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  date,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export const CONSENT_METHODS = ['bot', 'api', 'webapp'] as const;
export type ConsentMethod = (typeof CONSENT_METHODS)[number];

/** One grant or withdrawal of consent for one purpose at one version of its text. Never updated. */
export const consentRecords = pgTable(
  'consent_records',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** No foreign key: records are deleted by the erasure job, which walks the data map. */
    userId: uuid('user_id').notNull(),
    purposeId: text('purpose_id').notNull(),
    /** Content hash of the purpose's text the person saw. */
    purposeVersion: text('purpose_version').notNull(),
    granted: boolean('granted').notNull(),
    method: text('method', { enum: CONSENT_METHODS }).notNull(),
    /** The Kantara consent receipt id sent to the person for this decision. */
    receiptId: uuid('receipt_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [
    check('consent_records_method_check', sql`${table.method} in ('bot', 'api', 'webapp')`),
    check('consent_records_purpose_check', sql`${table.purposeId} ~ '^[a-z][a-z0-9_]{0,31}$'`),
    // The current decision per purpose is the newest record.
    index('consent_records_user_idx').on(table.userId, table.purposeId, table.createdAt),
  ],
);
export type ConsentRecordRow = typeof consentRecords.$inferSelect;

export const PRIVACY_REQUEST_KINDS = ['access', 'erasure', 'rectification', 'restriction', 'objection'] as const;
export type PrivacyRequestKind = (typeof PRIVACY_REQUEST_KINDS)[number];
/** pending → processing → completed | failed; erasure: scheduled (grace) → processing → completed | cancelled. */
export const PRIVACY_REQUEST_STATUSES = [
  'pending',
  'scheduled',
  'processing',
  'completed',
  'cancelled',
  'failed',
] as const;
export type PrivacyRequestStatus = (typeof PRIVACY_REQUEST_STATUSES)[number];

/** A data subject request (GDPR Arts. 15-21) with its Art. 12(3) deadline. */
export const privacyRequests = pgTable(
  'privacy_requests',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Kept after erasure (accountability, Art. 5(2)): an id that no longer leads to anyone. */
    userId: uuid('user_id').notNull(),
    kind: text('kind', { enum: PRIVACY_REQUEST_KINDS }).notNull(),
    status: text('status', { enum: PRIVACY_REQUEST_STATUSES }).notNull(),
    /** When the request was received: the clock of the one-month deadline. */
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    dueAt: timestamp('due_at', { withTimezone: true, precision: 3 }).notNull(),
    /** Art. 12(3): up to two further months, with a reason the person is told. */
    extendedUntil: timestamp('extended_until', { withTimezone: true, precision: 3 }),
    extensionReason: text('extension_reason'),
    /** Erasure: when the grace period ends and the erasure runs. */
    effectiveAt: timestamp('effective_at', { withTimezone: true, precision: 3 }),
    /** Export progress, 0-100. */
    progress: integer('progress'),
    completedAt: timestamp('completed_at', { withTimezone: true, precision: 3 }),
    /** The failure code (UPPER_SNAKE), never free text. */
    failureCode: text('failure_code'),
    /** SHA-256 of the export's download token (the token itself is never stored). */
    downloadTokenHash: text('download_token_hash'),
    downloadExpiresAt: timestamp('download_expires_at', { withTimezone: true, precision: 3 }),
    /** The bot message that shows the export's progress (edited in place). */
    statusMessageId: integer('status_message_id'),
  },
  (table) => [
    check(
      'privacy_requests_kind_check',
      sql`${table.kind} in ('access', 'erasure', 'rectification', 'restriction', 'objection')`,
    ),
    check(
      'privacy_requests_status_check',
      sql`${table.status} in ('pending', 'scheduled', 'processing', 'completed', 'cancelled', 'failed')`,
    ),
    check('privacy_requests_progress_check', sql`${table.progress} is null or ${table.progress} between 0 and 100`),
    check(
      'privacy_requests_extension_check',
      sql`(${table.extendedUntil} is null) = (${table.extensionReason} is null)`,
    ),
    check(
      'privacy_requests_reason_check',
      sql`${table.extensionReason} is null or length(${table.extensionReason}) between 10 and 500`,
    ),
    index('privacy_requests_user_idx').on(table.userId, table.createdAt),
    index('privacy_requests_open_idx').on(table.status, table.dueAt),
    index('privacy_requests_token_idx').on(table.downloadTokenHash),
  ],
);
export type PrivacyRequestRow = typeof privacyRequests.$inferSelect;

/** Which erasure steps (one per table, then the key) a request has finished: the job resumes after the last. */
export const privacyErasureSteps = pgTable(
  'privacy_erasure_steps',
  {
    requestId: uuid('request_id').notNull(),
    step: text('step').notNull(),
    rows: integer('rows').notNull(),
    completedAt: timestamp('completed_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.requestId, table.step] })],
);

/** The person's restriction of processing (Art. 18) and objections per purpose (Art. 21). */
export const privacySettings = pgTable(
  'privacy_settings',
  {
    userId: uuid('user_id').primaryKey(),
    restrictedAt: timestamp('restricted_at', { withTimezone: true, precision: 3 }),
    objectedPurposes: text('objected_purposes').array().notNull().default(sql`'{}'::text[]`),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [check('privacy_settings_objections_check', sql`cardinality(${table.objectedPurposes}) <= 32`)],
);

/** Usage analytics (the `analytics` purpose): a count of events per person per day, only with consent. */
export const usageCounters = pgTable(
  'usage_counters',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    event: text('event').notNull(),
    count: integer('count').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('usage_counters_user_day_event_idx').on(table.userId, table.day, table.event),
    check('usage_counters_event_check', sql`${table.event} ~ '^[a-z][a-z0-9_.]{0,63}$'`),
    index('usage_counters_created_idx').on(table.createdAt),
  ],
);
