/**
 * Linked accounts: storing, listing and removing a person's links, and finding the person a provider account
 * is linked to. The provider's account id is kept only as a blind index; name and email are sealed with the
 * person's data key. One provider account links to one person; accounts are never matched by email.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { UserFieldCipher } from '../crypto/field-cipher.ts';
import { blindIndex } from '../crypto/hash.ts';
import { UserKeyShreddedError } from '../crypto/user-keys.ts';
import type { Db } from '../db/index.ts';
import { users } from '../db/schema.ts';
import { type OAuthProviderId, oauthLinks } from '../db/schema-oauth.ts';
import { oauthError } from './errors.ts';
import type { OAuthIdentity } from './providers.ts';

/** Blind-index purpose of provider subjects (keeps this index unlinkable from others under the same key). */
export const SUBJECT_INDEX_PURPOSE = 'oauth-subject';

/** A link as the person sees it. */
export interface LinkedAccount {
  provider: OAuthProviderId;
  displayName: string | null;
  email: string | null;
  emailVerified: boolean;
  linkedAt: Date;
}

export interface LinkStoreDeps {
  db: Db;
  cipher: UserFieldCipher;
  /** Key of the subject blind index (derived from the master key, separate from encryption keys). */
  indexKey: Uint8Array;
}

export interface LinkStore {
  /** The person's links, oldest first. Sealed fields of a shredded key read as null. */
  list(userId: string): Promise<LinkedAccount[]>;
  /**
   * Links `identity` to `userId`, or refreshes the name/email of the same account already linked to them.
   * @throws DomainError OAUTH_ACCOUNT_LINKED_ELSEWHERE (the account belongs to another person),
   *   OAUTH_PROVIDER_ALREADY_LINKED (this person has another account of that provider linked) or
   *   OAUTH_ACCOUNT_INACTIVE (the person was blocked or erased since the link was started).
   */
  link(userId: string, identity: OAuthIdentity): Promise<{ linkId: string; isNew: boolean }>;
  /** Removes the person's link to `provider`. Returns the removed link's id, or undefined when there was none. */
  unlink(userId: string, provider: OAuthProviderId): Promise<string | undefined>;
  /** The person a provider account is linked to, if any. */
  findUserId(provider: OAuthProviderId, subject: string): Promise<string | undefined>;
}

export function createLinkStore(deps: LinkStoreDeps): LinkStore {
  const { db, cipher, indexKey } = deps;
  const subjectIndex = (provider: OAuthProviderId, subject: string) =>
    // The provider is part of the value: the same numeric id at GitHub and Discord are different people.
    blindIndex(indexKey, SUBJECT_INDEX_PURPOSE, `${provider}:${subject}`);
  const context = (rowId: string, column: 'display_name' | 'email') => ({ table: 'oauth_links', column, rowId });
  const seal = async (userId: string, rowId: string, column: 'display_name' | 'email', value: string | null) => {
    if (value === null) return null;
    try {
      return await cipher.sealForUser(userId, value, context(rowId, column));
    } catch (error) {
      // An erased person's key is gone: nothing new is stored about them.
      if (error instanceof UserKeyShreddedError) throw oauthError('OAUTH_ACCOUNT_INACTIVE');
      throw error;
    }
  };
  const open = async (userId: string, rowId: string, column: 'display_name' | 'email', value: Buffer | null) => {
    if (value === null) return null;
    const plain = await cipher.openForUser(userId, value, context(rowId, column));
    return plain === null ? null : plain.toString('utf8');
  };

  const byAccount = async (provider: OAuthProviderId, index: string) => {
    const [row] = await db
      .select({ id: oauthLinks.id, userId: oauthLinks.userId })
      .from(oauthLinks)
      .where(and(eq(oauthLinks.provider, provider), eq(oauthLinks.subjectIndex, index)))
      .limit(1);
    return row;
  };

  return {
    async list(userId) {
      const rows = await db
        .select()
        .from(oauthLinks)
        .where(eq(oauthLinks.userId, userId))
        .orderBy(asc(oauthLinks.linkedAt));
      return Promise.all(
        rows.map(async (row) => ({
          provider: row.provider,
          displayName: await open(userId, row.id, 'display_name', row.displayName),
          email: await open(userId, row.id, 'email', row.email),
          emailVerified: row.emailVerified,
          linkedAt: row.linkedAt,
        })),
      );
    },

    async link(userId, identity) {
      // Ten minutes may pass between the tap and the callback: the person may have been blocked or erased since.
      const [person] = await db.select({ status: users.status }).from(users).where(eq(users.id, userId)).limit(1);
      if (person?.status !== 'active') throw oauthError('OAUTH_ACCOUNT_INACTIVE');
      const index = subjectIndex(identity.provider, identity.subject);
      const existing = await byAccount(identity.provider, index);
      if (existing && existing.userId !== userId) throw oauthError('OAUTH_ACCOUNT_LINKED_ELSEWHERE');
      if (existing) {
        // The same account again: refresh what the provider now says about it.
        await db
          .update(oauthLinks)
          .set({
            displayName: await seal(userId, existing.id, 'display_name', identity.displayName),
            email: await seal(userId, existing.id, 'email', identity.email),
            emailVerified: identity.emailVerified,
          })
          .where(eq(oauthLinks.id, existing.id));
        return { linkId: existing.id, isNew: false };
      }
      const id = randomUUID();
      const inserted = await db
        .insert(oauthLinks)
        .values({
          id,
          userId,
          provider: identity.provider,
          subjectIndex: index,
          displayName: await seal(userId, id, 'display_name', identity.displayName),
          email: await seal(userId, id, 'email', identity.email),
          emailVerified: identity.emailVerified,
        })
        .onConflictDoNothing()
        .returning({ id: oauthLinks.id });
      if (inserted.length > 0) return { linkId: id, isNew: true };
      // A unique index refused the row: either the account got linked meanwhile, or this person has one already.
      const raced = await byAccount(identity.provider, index);
      if (raced && raced.userId !== userId) throw oauthError('OAUTH_ACCOUNT_LINKED_ELSEWHERE');
      if (raced) return { linkId: raced.id, isNew: false };
      throw oauthError('OAUTH_PROVIDER_ALREADY_LINKED');
    },

    async unlink(userId, provider) {
      const [row] = await db
        .delete(oauthLinks)
        .where(and(eq(oauthLinks.userId, userId), eq(oauthLinks.provider, provider)))
        .returning({ id: oauthLinks.id });
      return row?.id;
    },

    async findUserId(provider, subject) {
      return (await byAccount(provider, subjectIndex(provider, subject)))?.userId;
    },
  };
}
