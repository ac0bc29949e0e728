/**
 * The database schema (Drizzle). Every column is declared in the personal-data map as the trust-core
 * issue adds it; migrations are generated from this file by drizzle-kit (`npm run db:generate`).
 */
import { sql } from 'drizzle-orm';
import { bigint, check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './types.ts';

export const USER_ROLES = ['admin', 'user', 'readonly'] as const;
export type UserRole = (typeof USER_ROLES)[number];
export const USER_STATUSES = ['active', 'blocked', 'deleted'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/**
 * A person known to the product, found by their Telegram id (data minimisation: nothing else is required).
 * The Telegram id itself is never stored in clear: a keyed blind index finds the row, and the id is sealed with
 * the person's data key, so destroying that key (erasure) makes it unreadable in every dump and backup too.
 * Read and write people only through `shared/identity/users.ts`.
 */
export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /**
     * Legacy: the Telegram id in clear, as databases created before it was sealed hold it. Set on no new row;
     * the start-up backfill (`backfillTelegramIds`) moves every such value into the two columns below and clears it.
     */
    legacyTelegramId: bigint('telegram_id', { mode: 'number' }).unique(),
    /** HMAC-SHA256 blind index of the Telegram id (key derived from MASTER_KEY): lookups without the id. */
    telegramIdHash: text('telegram_id_hash').unique(),
    /** The Telegram id, sealed with the person's data key (bound to this row): to message them. */
    telegramIdSealed: bytea('telegram_id_sealed'),
    role: text('role', { enum: USER_ROLES }).notNull().default('user'),
    status: text('status', { enum: USER_STATUSES }).notNull().default('active'),
    /** IETF tag from Telegram's `language_code`, used to pick the bot's language. */
    languageCode: text('language_code'),
    /** When Telegram last said the person blocked the bot (403) or left its chat; null: reachable. */
    botBlockedAt: timestamp('bot_blocked_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    check('users_role_check', sql`${table.role} in ('admin', 'user', 'readonly')`),
    check('users_status_check', sql`${table.status} in ('active', 'blocked', 'deleted')`),
    check(
      'users_telegram_id_hash_check',
      sql`${table.telegramIdHash} is null or ${table.telegramIdHash} ~ '^[0-9a-f]{64}$'`,
    ),
    // Every row can be found by its Telegram id: by the blind index, or (until the backfill) by the legacy column.
    check(
      'users_telegram_id_present_check',
      sql`${table.telegramIdHash} is not null or ${table.legacyTelegramId} is not null`,
    ),
    check('users_language_code_check', sql`${table.languageCode} is null or length(${table.languageCode}) <= 35`),
    index('users_role_idx').on(table.role),
  ],
);

/** A users row as stored (the Telegram id only as a blind index and a sealed value). */
export type UserRow = typeof users.$inferSelect;
/** A person as the product sees them: the stored row with the Telegram id opened (`shared/identity/users.ts`). */
export type User = Omit<UserRow, 'legacyTelegramId' | 'telegramIdHash' | 'telegramIdSealed'> & { telegramId: number };
export type NewUser = typeof users.$inferInsert;
export * from './schema-api-keys.ts';
export * from './schema-audit.ts';
export * from './schema-crypto.ts';
export * from './schema-defense.ts';
export * from './schema-mfa.ts';
export * from './schema-oauth.ts';
export * from './schema-privacy.ts';
export * from './schema-role-grants.ts';
export * from './schema-scanner.ts';
