/**
 * Linked provider accounts (Google, GitHub, Discord). The provider's subject id is stored only as a keyed
 * blind index (one provider account links to at most one person); the display name and email are sealed with
 * the person's data key. Provider tokens are never stored: nothing needs them after the link is made.
 * Domain logic lives in `shared/oauth/`.
 */
import { sql } from 'drizzle-orm';
import { boolean, check, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './schema.ts';
import { bytea } from './types.ts';

export const OAUTH_PROVIDER_IDS = ['google', 'github', 'discord'] as const;
export type OAuthProviderId = (typeof OAUTH_PROVIDER_IDS)[number];

/** One link between a person and one provider account. */
export const oauthLinks = pgTable(
  'oauth_links',
  {
    /** Generated before insert: the sealed fields are bound to it (AEAD associated data). */
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    provider: text('provider', { enum: OAUTH_PROVIDER_IDS }).notNull(),
    /** HMAC blind index of the provider's subject id (`sub`, GitHub/Discord user id): lookups without the id. */
    subjectIndex: text('subject_index').notNull(),
    /** Display name at the provider, sealed with the person's data key. */
    displayName: bytea('display_name'),
    /** Email at the provider, sealed with the person's data key. */
    email: bytea('email'),
    /** Whether the provider says it verified that email. */
    emailVerified: boolean('email_verified').notNull().default(false),
    linkedAt: timestamp('linked_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    check('oauth_links_provider_check', sql`${table.provider} in ('google', 'github', 'discord')`),
    check('oauth_links_subject_index_check', sql`${table.subjectIndex} ~ '^[0-9a-f]{64}$'`),
    // One provider account → one person; never merged by email (the email is not even searchable).
    uniqueIndex('oauth_links_provider_subject_idx').on(table.provider, table.subjectIndex),
    // One account per provider per person.
    uniqueIndex('oauth_links_user_provider_idx').on(table.userId, table.provider),
  ],
);
export type OAuthLinkRow = typeof oauthLinks.$inferSelect;
