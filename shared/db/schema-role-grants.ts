/**
 * Role grants awaiting a second admin (the two-person rule): one admin asks for a person to be made an admin,
 * a different admin approves or rejects it before it expires. Rows are the record of who asked and who
 * decided; the audit trail records the same steps. Domain logic lives in `shared/identity/role-grants.ts`.
 */
import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './schema.ts';

export const ROLE_GRANT_STATUSES = ['pending', 'approved', 'rejected', 'expired'] as const;
export type RoleGrantStatus = (typeof ROLE_GRANT_STATUSES)[number];

export const roleGrants = pgTable(
  'role_grants',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The person who would get the role. */
    targetUserId: uuid('target_user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The role asked for (only `admin` needs a second admin today). */
    role: text('role', { enum: ['admin'] })
      .notNull()
      .default('admin'),
    /** The admin who asked. */
    requestedBy: uuid('requested_by').notNull(),
    status: text('status', { enum: ROLE_GRANT_STATUSES }).notNull().default('pending'),
    /** The admin who approved or rejected it (null while pending, or when it expired). */
    decidedBy: uuid('decided_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
  },
  (table) => [
    check('role_grants_role_check', sql`${table.role} in ('admin')`),
    check('role_grants_status_check', sql`${table.status} in ('pending', 'approved', 'rejected', 'expired')`),
    // The rule itself, in the database too: nobody approves their own request.
    check(
      'role_grants_two_person_check',
      sql`${table.decidedBy} is null or ${table.decidedBy} <> ${table.requestedBy} or ${table.status} = 'rejected'`,
    ),
    // At most one open request per person: a second one would be announced twice and approved twice.
    uniqueIndex('role_grants_one_pending_idx').on(table.targetUserId).where(sql`${table.status} = 'pending'`),
    index('role_grants_status_idx').on(table.status, table.expiresAt),
  ],
);

export type RoleGrantRow = typeof roleGrants.$inferSelect;
