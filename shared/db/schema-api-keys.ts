/**
 * API keys for external REST clients. Only a SHA-256 hash of each key is stored (with a short display prefix
 * the owner recognises it by); the key itself is shown once, when it is created. Domain logic lives in
 * `shared/api-keys/`.
 */
import { sql } from 'drizzle-orm';
import { type AnyPgColumn, check, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './schema.ts';

/** One API key of one person. A row is never reused: rotation inserts a new row and links the old one to it. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The owner; their keys go with their account. */
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The owner's label for the key ("CI deploy"). */
    name: text('name').notNull(),
    /** SHA-256 of the whole key, hex: what authentication looks up. The key itself is never stored. */
    keyHash: text('key_hash').notNull().unique(),
    /** The first 8 and last 4 characters (`tsp_AbC1…x9Zq`), so the owner can tell keys apart. */
    displayPrefix: text('display_prefix').notNull(),
    /** Permissions the key was granted; at use time they are narrowed to the owner's current role. */
    scopes: text('scopes').array().notNull(),
    /** The key's own request budget per minute. */
    rateLimitPerMinute: integer('rate_limit_per_minute').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** The key stops working at this time (at most 365 days after creation; shortened by rotation). */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    /** The network the key was last used from (IPv4 /24, IPv6 /48), never the address. */
    lastUsedIp: text('last_used_ip'),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    /** Rotation link: the key that replaced this one (this one then works only until the grace period ends). */
    replacedById: uuid('replaced_by_id').references((): AnyPgColumn => apiKeys.id, { onDelete: 'set null' }),
  },
  (table) => [
    check('api_keys_name_check', sql`length(${table.name}) between 1 and 64`),
    check('api_keys_key_hash_check', sql`${table.keyHash} ~ '^[0-9a-f]{64}$'`),
    check('api_keys_display_prefix_check', sql`length(${table.displayPrefix}) <= 16`),
    check('api_keys_scopes_check', sql`cardinality(${table.scopes}) between 1 and 64`),
    check('api_keys_rate_limit_check', sql`${table.rateLimitPerMinute} between 1 and 100000`),
    check('api_keys_expiry_check', sql`${table.expiresAt} > ${table.createdAt}`),
    // Defence in depth for "the IP is truncated": only a /24 or /48 network can be stored.
    check(
      'api_keys_last_used_ip_check',
      sql`${table.lastUsedIp} is null or ${table.lastUsedIp} ~ '^([0-9]{1,3}\\.){3}0/24$' or ${table.lastUsedIp} ~ '^[0-9a-f:]{2,39}/48$'`,
    ),
    // The owner's list, newest first.
    index('api_keys_user_idx').on(table.userId, table.createdAt),
  ],
);
/** A stored API key (hash only). */
export type ApiKeyRow = typeof apiKeys.$inferSelect;
/** An API key to insert. */
export type NewApiKeyRow = typeof apiKeys.$inferInsert;
