/**
 * The key store: each person's data key, wrapped by a key-ring key. It lives in a database of its own
 * (KEYSTORE_DATABASE_URL, or its own PGlite folder), so a dump or backup of the data never holds the keys:
 * destroying a person's key here (crypto-shredding) makes every copy of their sealed fields unreadable.
 */
import { sql } from 'drizzle-orm';
import { check, integer, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea } from '../types.ts';

export const userKeys = pgTable(
  'user_keys',
  {
    userId: uuid('user_id').primaryKey(),
    /** The person's 256-bit data key sealed by key-ring key `ring_key_id`; null once shredded. */
    wrappedKey: bytea('wrapped_key'),
    ringKeyId: integer('ring_key_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Set when the key was destroyed; the row stays as a tombstone so nothing new is sealed for them. */
    shreddedAt: timestamp('shredded_at', { withTimezone: true }),
  },
  (table) => [
    check(
      'user_keys_shred_check',
      sql`(${table.shreddedAt} is null and ${table.wrappedKey} is not null and ${table.ringKeyId} is not null)
        or (${table.shreddedAt} is not null and ${table.wrappedKey} is null and ${table.ringKeyId} is null)`,
    ),
  ],
);
export type UserKeyRow = typeof userKeys.$inferSelect;
