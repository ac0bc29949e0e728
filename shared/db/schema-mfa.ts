/**
 * Two-factor authentication: one TOTP factor per person (its secret sealed with the person's data key),
 * their single-use backup codes (keyed hashes only) and admin-requested resets that wait before they apply.
 * Domain logic lives in `shared/mfa/`.
 */
import { sql } from 'drizzle-orm';
import { bigint, check, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './schema.ts';
import { bytea } from './types.ts';

export const MFA_FACTOR_STATUSES = ['pending', 'active'] as const;
export type MfaFactorStatus = (typeof MFA_FACTOR_STATUSES)[number];

/** A person's TOTP factor: `pending` between enrolment start and the first correct code, then `active`. */
export const mfaFactors = pgTable(
  'mfa_factors',
  {
    userId: uuid('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    status: text('status', { enum: MFA_FACTOR_STATUSES }).notNull(),
    /** The TOTP secret (20 bytes), sealed with the person's data key: erased by crypto-shredding. */
    secret: bytea('secret').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    enabledAt: timestamp('enabled_at', { withTimezone: true }),
    /** The last TOTP time step accepted: a code of this step or earlier is a replay (RFC 6238 5.2). */
    lastUsedStep: bigint('last_used_step', { mode: 'number' }),
  },
  (table) => [check('mfa_factors_status_check', sql`${table.status} in ('pending', 'active')`)],
);
export type MfaFactorRow = typeof mfaFactors.$inferSelect;

/** One backup code: only an HMAC of it under the server pepper is stored; `used_at` makes it single use. */
export const mfaBackupCodes = pgTable(
  'mfa_backup_codes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    usedAt: timestamp('used_at', { withTimezone: true }),
  },
  (table) => [
    check('mfa_backup_codes_hash_check', sql`${table.codeHash} ~ '^[0-9a-f]{64}$'`),
    index('mfa_backup_codes_user_idx').on(table.userId, table.codeHash),
  ],
);

export const MFA_RESET_STATUSES = ['pending', 'cancelled', 'completed'] as const;
export type MfaResetStatus = (typeof MFA_RESET_STATUSES)[number];

/** An admin-requested removal of a person's factor (lost phone and codes); applies at `effective_at`. */
export const mfaResets = pgTable(
  'mfa_resets',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The admin who asked for it (kept as the audit trail keeps it; cleared if that account goes). */
    requestedBy: uuid('requested_by').references(() => users.id, { onDelete: 'set null' }),
    status: text('status', { enum: MFA_RESET_STATUSES }).notNull().default('pending'),
    requestedAt: timestamp('requested_at', { withTimezone: true }).notNull().defaultNow(),
    effectiveAt: timestamp('effective_at', { withTimezone: true }).notNull(),
    closedAt: timestamp('closed_at', { withTimezone: true }),
  },
  (table) => [
    check('mfa_resets_status_check', sql`${table.status} in ('pending', 'cancelled', 'completed')`),
    check('mfa_resets_effective_check', sql`${table.effectiveAt} > ${table.requestedAt}`),
    // At most one pending reset per person.
    uniqueIndex('mfa_resets_one_pending').on(table.userId).where(sql`${table.status} = 'pending'`),
    index('mfa_resets_due_idx').on(table.effectiveAt).where(sql`${table.status} = 'pending'`),
  ],
);
export type MfaResetRow = typeof mfaResets.$inferSelect;
