/**
 * The database schema (Drizzle). Every column is declared in the personal-data map as the trust-core
 * issue adds it; migrations are generated from this file by drizzle-kit (`npm run db:generate`).
 */
import { sql } from 'drizzle-orm';
import { bigint, check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const USER_ROLES = ['admin', 'user', 'readonly'] as const;
export type UserRole = (typeof USER_ROLES)[number];
export const USER_STATUSES = ['active', 'blocked', 'deleted'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/** A person known to the product, keyed by their Telegram id (data minimisation: nothing else is required). */
export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    telegramId: bigint('telegram_id', { mode: 'number' }).notNull().unique(),
    role: text('role', { enum: USER_ROLES }).notNull().default('user'),
    status: text('status', { enum: USER_STATUSES }).notNull().default('active'),
    /** IETF tag from Telegram's `language_code`, used to pick the bot's language. */
    languageCode: text('language_code'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    check('users_role_check', sql`${table.role} in ('admin', 'user', 'readonly')`),
    check('users_status_check', sql`${table.status} in ('active', 'blocked', 'deleted')`),
    check('users_language_code_check', sql`${table.languageCode} is null or length(${table.languageCode}) <= 35`),
    index('users_role_idx').on(table.role),
  ],
);

export type User = typeof users.$inferSelect;
export type NewUser = typeof users.$inferInsert;
export * from './schema-api-keys.ts';
export * from './schema-audit.ts';
export * from './schema-crypto.ts';
export * from './schema-defense.ts';
export * from './schema-mfa.ts';
export * from './schema-oauth.ts';
export * from './schema-privacy.ts';
export * from './schema-scanner.ts';
