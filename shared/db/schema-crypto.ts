/**
 * The key ring: data-encryption keys, each sealed (wrapped) by the master key, which itself never enters the
 * database. One key is primary (seals new data); older ones stay to open old data until re-encryption
 * retires them.
 */
import { sql } from 'drizzle-orm';
import { check, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { bytea } from './types.ts';

export const KEY_STATUSES = ['primary', 'active', 'retired'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export const cryptoKeys = pgTable(
  'crypto_keys',
  {
    /** Key id, written into every envelope this key seals. */
    id: integer('id').primaryKey(),
    status: text('status', { enum: KEY_STATUSES }).notNull(),
    /** The key material sealed with the master key (AES-256-GCM, bound to this id). */
    wrappedKey: bytea('wrapped_key').notNull(),
    /** Which master key sealed it (HMAC fingerprint): a wrong MASTER_KEY is refused at start. */
    masterFingerprint: text('master_fingerprint').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    promotedAt: timestamp('promoted_at', { withTimezone: true }),
    retiredAt: timestamp('retired_at', { withTimezone: true }),
  },
  (table) => [
    check('crypto_keys_status_check', sql`${table.status} in ('primary', 'active', 'retired')`),
    uniqueIndex('crypto_keys_one_primary').on(table.status).where(sql`${table.status} = 'primary'`),
  ],
);
export type CryptoKeyRow = typeof cryptoKeys.$inferSelect;
