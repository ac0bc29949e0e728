/**
 * Per-user data keys (envelope encryption). Each person's personal fields are sealed with their own
 * 256-bit data key; the data key is stored in the key store wrapped by a key-ring key. Destroying it
 * (crypto-shredding) makes every copy of those fields unreadable, in the live database and in every dump
 * or backup of it, while the rows themselves stay valid.
 */
import { and, asc, eq, gt, isNotNull, ne, sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { userKeys } from '../db/keystore/schema.ts';
import { fieldAad, KEY_BYTES, openEnvelope, sealEnvelope } from './aead.ts';
import type { FieldContext, UserFieldCipher } from './field-cipher.ts';
import type { KeyRing } from './key-ring.ts';
import { randomBytesOf } from './random.ts';

/** Envelope key id of values sealed with a person's data key (ring keys use ids ≥ 1). */
const USER_KEY_GENERATION = 1;
/**
 * Unwrapped data keys are cached this long per process, so reading many fields costs one key-store read.
 * A shred in another process takes effect there within this window; the shredding process drops it at once.
 */
export const USER_KEY_CACHE_TTL_MS = 5_000;
const USER_KEY_CACHE_MAX = 10_000;

/** Thrown when sealing for a person whose key was destroyed: nothing new is stored for an erased person. */
export class UserKeyShreddedError extends Error {
  constructor() {
    super('This person’s data key was destroyed (erasure); nothing can be sealed for them');
    this.name = 'UserKeyShreddedError';
  }
}

export interface UserKeys extends UserFieldCipher {
  /** Destroys the person's data key. Idempotent. Returns true when a key existed. */
  shred(userId: string): Promise<boolean>;
  /** True when the person's key has been destroyed. */
  isShredded(userId: string): Promise<boolean>;
  /**
   * Re-wraps up to `batchSize` data keys not yet under the primary ring key, after `afterUserId`.
   * Idempotent and resumable: pass back `nextCursor` until `done`.
   */
  rewrapBatch(options: { batchSize: number; afterUserId?: string }): Promise<{
    rewrapped: number;
    nextCursor: string | undefined;
    done: boolean;
  }>;
  /** How many live data keys each ring key wraps (to know when an old ring key can be retired). */
  countByRingKey(): Promise<Map<number, number>>;
}

function userFieldAad(userId: string, context: FieldContext): Buffer {
  // The subject is part of the binding: a value moved to another person's row fails to open.
  return Buffer.concat([fieldAad(context.table, context.column, context.rowId), fieldAad('user', userId, '')]);
}

function wrapAad(userId: string): Buffer {
  return fieldAad('user_keys', 'wrapped_key', userId);
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Per-user keys over the key store `keystore` and the key ring `ring`. */
export function createUserKeys(deps: { keystore: Db; ring: KeyRing; now?: () => number }): UserKeys {
  const { keystore, ring } = deps;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { key: Buffer; expiresAt: number }>();

  const remember = (userId: string, key: Buffer) => {
    if (cache.size >= USER_KEY_CACHE_MAX) cache.delete(cache.keys().next().value as string);
    cache.set(userId, { key, expiresAt: now() + USER_KEY_CACHE_TTL_MS });
  };

  /** The person's data key; undefined when they have none yet; null when it was shredded. */
  const loadKey = async (userId: string): Promise<Buffer | null | undefined> => {
    if (!UUID_PATTERN.test(userId)) throw new Error('userId must be a UUID');
    const cached = cache.get(userId);
    if (cached && cached.expiresAt > now()) return cached.key;
    const [row] = await keystore.select().from(userKeys).where(eq(userKeys.userId, userId)).limit(1);
    if (!row) return undefined;
    if (row.shreddedAt || !row.wrappedKey || row.ringKeyId === null) return null;
    const wrapping = await ring.get(row.ringKeyId);
    const key = openEnvelope(wrapping.key, row.wrappedKey, wrapAad(userId));
    remember(userId, key);
    return key;
  };

  const createKey = async (userId: string): Promise<Buffer> => {
    const material = randomBytesOf(KEY_BYTES);
    const primary = ring.primary();
    await keystore
      .insert(userKeys)
      .values({
        userId,
        ringKeyId: primary.id,
        wrappedKey: sealEnvelope(primary.key, primary.id, material, wrapAad(userId)),
      })
      .onConflictDoNothing();
    // Another process may have created it first: use whichever key won.
    const key = await loadKey(userId);
    if (key === null) throw new UserKeyShreddedError();
    if (!key) throw new Error('The data key could not be stored');
    return key;
  };

  return {
    async sealForUser(userId, plaintext, context) {
      let key = await loadKey(userId);
      if (key === null) throw new UserKeyShreddedError();
      if (key === undefined) key = await createKey(userId);
      const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      return sealEnvelope(key, USER_KEY_GENERATION, bytes, userFieldAad(userId, context));
    },

    async openForUser(userId, sealed, context) {
      const key = await loadKey(userId);
      if (!key) return null; // shredded (or never had one): the value is unrecoverable by design
      return openEnvelope(key, sealed, userFieldAad(userId, context));
    },

    async shred(userId) {
      if (!UUID_PATTERN.test(userId)) throw new Error('userId must be a UUID');
      cache.delete(userId);
      // Upsert a tombstone: the key material is overwritten in place (not just the row removed), and a person
      // erased before they ever had a key still gets a tombstone so nothing is sealed for them later.
      const result = await keystore
        .insert(userKeys)
        .values({ userId, wrappedKey: null, ringKeyId: null, shreddedAt: new Date() })
        .onConflictDoUpdate({
          target: userKeys.userId,
          set: { wrappedKey: null, ringKeyId: null, shreddedAt: sql`coalesce(${userKeys.shreddedAt}, now())` },
          setWhere: sql`${userKeys.shreddedAt} is null`,
        })
        .returning({ userId: userKeys.userId });
      return result.length > 0;
    },

    async isShredded(userId) {
      const [row] = await keystore
        .select({ shreddedAt: userKeys.shreddedAt })
        .from(userKeys)
        .where(eq(userKeys.userId, userId));
      return Boolean(row?.shreddedAt);
    },

    async rewrapBatch({ batchSize, afterUserId }) {
      await ring.reload();
      const primary = ring.primary();
      const rows = await keystore
        .select()
        .from(userKeys)
        .where(
          and(
            isNotNull(userKeys.wrappedKey),
            ne(userKeys.ringKeyId, primary.id),
            afterUserId ? gt(userKeys.userId, afterUserId) : undefined,
          ),
        )
        .orderBy(asc(userKeys.userId))
        .limit(batchSize);
      let rewrapped = 0;
      for (const row of rows) {
        if (!row.wrappedKey || row.ringKeyId === null) continue;
        const old = await ring.get(row.ringKeyId);
        const material = openEnvelope(old.key, row.wrappedKey, wrapAad(row.userId));
        const updated = await keystore
          .update(userKeys)
          .set({
            wrappedKey: sealEnvelope(primary.key, primary.id, material, wrapAad(row.userId)),
            ringKeyId: primary.id,
          })
          // Only if nothing changed meanwhile (another worker, or a shred): safe to run twice.
          .where(and(eq(userKeys.userId, row.userId), eq(userKeys.ringKeyId, row.ringKeyId)))
          .returning({ userId: userKeys.userId });
        rewrapped += updated.length;
      }
      const last = rows.at(-1)?.userId;
      return { rewrapped, nextCursor: last, done: rows.length < batchSize };
    },

    async countByRingKey() {
      const rows = await keystore
        .select({ ringKeyId: userKeys.ringKeyId, count: sql<number>`count(*)::int` })
        .from(userKeys)
        .where(isNotNull(userKeys.ringKeyId))
        .groupBy(userKeys.ringKeyId);
      return new Map(rows.map((row) => [row.ringKeyId as number, Number(row.count)]));
    },
  };
}
