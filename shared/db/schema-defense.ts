/**
 * Intrusion-detection decisions: a ban, throttle or factor lockout on one target (a user, a Telegram
 * account, an API key, an IP address or /64, a chat), issued by a scenario or an admin. Targets are stored
 * as keyed hashes (blind indexes) plus a masked label for people to read; the address itself is never
 * stored. Domain logic lives in `shared/defense/`.
 */
import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './schema.ts';

export const defenseDecisions = pgTable(
  'defense_decisions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The scenario that issued it (`mfa-bruteforce`, …) or `manual` for an admin's decision. */
    scenario: text('scenario').notNull(),
    /** What the target is: user, telegram_user, api_key, ip, chat. */
    scope: text('scope').notNull(),
    /** throttle, ban or factor_lockout. */
    kind: text('kind').notNull(),
    /** Keyed hash of the target (`scope:value`): what escalation counts repeat offences by. */
    targetHash: text('target_hash').notNull(),
    /** Keyed hashes every edge matches against (the target plus its aliases: a user's Telegram account). */
    matchHashes: text('match_hashes').array().notNull(),
    /** A masked label (`ip4:203.0.113.x`, `user:1a2b…`), safe to show to admins. */
    targetLabel: text('target_label').notNull(),
    /** The person the decision is about, when known (for their review request, export and erasure). */
    subjectUserId: uuid('subject_user_id').references(() => users.id, { onDelete: 'set null' }),
    /** Why, as an UPPER_SNAKE code. */
    reason: text('reason').notNull(),
    /** True when a scenario issued it without a person (GDPR Art. 22: the subject may ask for a review). */
    automated: boolean('automated').notNull(),
    /** Repeat-offence level at issue time (0 = first); the duration doubles with each. */
    offenceLevel: integer('offence_level').notNull().default(0),
    /** The admin who issued it by hand. */
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    liftedAt: timestamp('lifted_at', { withTimezone: true }),
    liftedBy: uuid('lifted_by').references(() => users.id, { onDelete: 'set null' }),
    /** When the subject asked a person to review this automated decision. */
    reviewRequestedAt: timestamp('review_requested_at', { withTimezone: true }),
  },
  (table) => [
    check('defense_decisions_kind_check', sql`${table.kind} in ('throttle', 'ban', 'factor_lockout')`),
    check('defense_decisions_scope_check', sql`${table.scope} in ('user', 'telegram_user', 'api_key', 'ip', 'chat')`),
    check('defense_decisions_hash_check', sql`${table.targetHash} ~ '^[0-9a-f]{32}$'`),
    check('defense_decisions_expiry_check', sql`${table.expiresAt} > ${table.createdAt}`),
    index('defense_decisions_target_idx').on(table.targetHash, table.createdAt),
    index('defense_decisions_expires_idx').on(table.expiresAt),
  ],
);
export type DefenseDecisionRow = typeof defenseDecisions.$inferSelect;
