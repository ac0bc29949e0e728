/**
 * Users: the person behind a Telegram id. Only what the product needs is stored (data minimisation): the
 * Telegram id, a role, a status and the language to answer in.
 *
 * The Telegram id is never stored in clear. `users.telegram_id_hash` is a keyed blind index (HMAC-SHA256 under
 * a key derived from MASTER_KEY) that finds the row; `users.telegram_id_sealed` is the id sealed with the
 * person's own data key, opened when the product must message them. Erasure destroys that key, so the id no
 * longer opens in the live database nor in any dump or backup taken before; without MASTER_KEY the index
 * cannot be tested against guesses either.
 *
 * Key material: the functions keep their `(db, …)` signatures. `bindUserIdentity(db, keys)` attaches the index
 * key and the field cipher to the database handle once at start (`createServices` does), and every function
 * finds them through the handle it is given. Trade-off: the dependency is not visible in the signatures and a
 * handle never bound fails at run time (with an error saying so), not at compile time; in exchange no call site
 * changes, and several databases in one process (tests) each keep their own keys, which a module-wide setting
 * could not. A transaction handle is not the bound handle: call these functions with the database itself.
 */
import { and, asc, eq, getTableColumns, isNotNull, isNull, sql } from 'drizzle-orm';
import type { FieldContext, UserFieldCipher } from '../crypto/field-cipher.ts';
import { blindIndex, deriveKey } from '../crypto/hash.ts';
import { UserKeyShreddedError } from '../crypto/user-keys.ts';
import type { Db } from '../db/index.ts';
import { type User, type UserRole, type UserRow, users } from '../db/schema.ts';

/** Telegram's `language_code` is an IETF tag; anything else is dropped rather than stored. */
const LANGUAGE_CODE_PATTERN = /^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8}){0,3}$/;

/** HKDF purpose of the Telegram id index key (separate from every encryption key and other indexes). */
export const TELEGRAM_ID_INDEX_KEY_PURPOSE = 'blind-index-telegram-id-v1';
/** Blind-index purpose of Telegram ids (keeps this index unlinkable from others under the same key). */
export const TELEGRAM_ID_INDEX_PURPOSE = 'telegram-id';
/** Rows converted per statement batch by {@link backfillTelegramIds}. */
export const TELEGRAM_ID_BACKFILL_BATCH = 500;

/** What the users functions need besides the database: the blind-index key and the per-user field cipher. */
export interface UserIdentityKeys {
  /** Key of the Telegram id blind index: {@link deriveTelegramIdIndexKey}. */
  indexKey: Uint8Array;
  /** Seals and opens the Telegram id with the person's data key (shared/crypto/user-keys.ts). */
  cipher: UserFieldCipher;
}

const boundKeys = new WeakMap<object, UserIdentityKeys>();

/** The index key for Telegram ids, derived from the master key. */
export function deriveTelegramIdIndexKey(masterKey: Uint8Array): Buffer {
  return deriveKey(masterKey, TELEGRAM_ID_INDEX_KEY_PURPOSE);
}

/**
 * Attaches the identity keys to a database handle; every function of this module called with `db` uses them.
 * Call once at start, before the first lookup (a second call replaces the keys).
 * @example bindUserIdentity(database.db, { indexKey: deriveTelegramIdIndexKey(masterKey), cipher: userKeys });
 */
export function bindUserIdentity(db: Db, keys: UserIdentityKeys): void {
  boundKeys.set(db, keys);
}

function keysOf(db: Db): UserIdentityKeys {
  const keys = boundKeys.get(db);
  if (!keys) {
    throw new Error(
      'No identity keys are bound to this database handle: call bindUserIdentity(db, …) at start ' +
        '(createServices does), and pass the database itself rather than a transaction.',
    );
  }
  return keys;
}

/** The blind index of a Telegram id (64 hex characters). */
export function telegramIdIndex(indexKey: Uint8Array, telegramId: number): string {
  return blindIndex(indexKey, TELEGRAM_ID_INDEX_PURPOSE, String(telegramId));
}

/** Purpose of the Telegram account pseudonyms in records (unlinkable from the users index under the same key). */
export const TELEGRAM_ACCOUNT_PSEUDONYM_PURPOSE = 'telegram-account-pseudonym';

/**
 * A stable pseudonym of a Telegram account, for records that must name an account without storing its id
 * (the audit target of a group member who was warned, muted or banned, who may never have used the bot):
 * HMAC under the bound index key with a purpose of its own, 32 hex characters. The same account always gets
 * the same pseudonym, so an admin can follow one member's record; nobody can turn it back into the id without
 * MASTER_KEY, and it does not match the users table's index.
 * @example telegramAccountPseudonym(db, 42) // '5c1f…' (32 hex)
 */
export function telegramAccountPseudonym(db: Db, telegramId: number): string {
  return blindIndex(keysOf(db).indexKey, TELEGRAM_ACCOUNT_PSEUDONYM_PURPOSE, String(telegramId)).slice(0, 32);
}

/** Where a person's sealed Telegram id is stored: the AEAD binding of the value to its row. */
function sealedContext(userId: string): FieldContext {
  return { table: 'users', column: 'telegram_id_sealed', rowId: userId };
}

function assertTelegramId(telegramId: number): void {
  if (!Number.isSafeInteger(telegramId) || telegramId <= 0) throw new Error('telegramId must be a positive integer');
}

export function normaliseLanguageCode(code: string | undefined): string | null {
  return code && code.length <= 35 && LANGUAGE_CODE_PATTERN.test(code) ? code.toLowerCase() : null;
}

/** The person as the product sees them: the stored row without its Telegram id columns, plus the id. */
function toUser(row: UserRow, telegramId: number): User {
  const { legacyTelegramId: _legacy, telegramIdHash: _hash, telegramIdSealed: _sealed, ...rest } = row;
  return { ...rest, telegramId };
}

/** Opens a row's Telegram id; null when it can no longer be read (the person's key was destroyed). */
async function openTelegramId(
  cipher: UserFieldCipher,
  row: Pick<UserRow, 'id' | 'legacyTelegramId' | 'telegramIdSealed'>,
): Promise<number | null> {
  if (row.telegramIdSealed) {
    const plain = await cipher.openForUser(row.id, row.telegramIdSealed, sealedContext(row.id));
    return plain === null ? null : Number(plain.toString('utf8'));
  }
  // A row the start-up backfill has not reached yet.
  return row.legacyTelegramId ?? null;
}

/**
 * The Telegram ids of stored rows, in order, opened concurrently (admin lists, announcements);
 * null for a person whose id can no longer be read (erased: their key was destroyed).
 */
export async function openTelegramIds(
  db: Db,
  rows: readonly Pick<UserRow, 'id' | 'legacyTelegramId' | 'telegramIdSealed'>[],
): Promise<(number | null)[]> {
  const { cipher } = keysOf(db);
  return Promise.all(rows.map((row) => openTelegramId(cipher, row)));
}

/** Stored rows as people, in order; a person whose Telegram id can no longer be read is left out. */
export async function toUsers(db: Db, rows: readonly UserRow[]): Promise<User[]> {
  const ids = await openTelegramIds(db, rows);
  return rows.flatMap((row, index) => {
    const telegramId = ids[index];
    return telegramId === null || telegramId === undefined ? [] : [toUser(row, telegramId)];
  });
}

/** Seals the Telegram id into a row that has none yet (a first contact, or one interrupted before sealing). */
async function sealInto(db: Db, cipher: UserFieldCipher, row: UserRow, telegramId: number): Promise<void> {
  let sealed: Buffer;
  try {
    sealed = await cipher.sealForUser(row.id, String(telegramId), sealedContext(row.id));
  } catch (error) {
    // An erased person's key is gone: nothing is stored about them any more, the blind index still finds the row.
    if (error instanceof UserKeyShreddedError) return;
    throw error;
  }
  await db
    .update(users)
    .set({ telegramIdSealed: sealed })
    .where(and(eq(users.id, row.id), isNull(users.telegramIdSealed)));
}

/**
 * Creates the user on first contact (`created: true`) or refreshes their language; bootstrap admins (ADMIN_TELEGRAM_IDS) get
 * the admin role on creation. Concurrent calls for one Telegram id make one user (the blind index is unique).
 * @example await upsertTelegramUser(db, { telegramId: 42, languageCode: 'en', adminTelegramIds: [] });
 */
export async function upsertTelegramUser(
  db: Db,
  input: { telegramId: number; languageCode?: string | undefined; adminTelegramIds: readonly number[] },
): Promise<{ user: User; created: boolean }> {
  assertTelegramId(input.telegramId);
  const { indexKey, cipher } = keysOf(db);
  const role: UserRole = input.adminTelegramIds.includes(input.telegramId) ? 'admin' : 'user';
  const languageCode = normaliseLanguageCode(input.languageCode);
  const [user] = await db
    .insert(users)
    .values({ telegramIdHash: telegramIdIndex(indexKey, input.telegramId), role, languageCode })
    .onConflictDoUpdate({
      target: users.telegramIdHash,
      set: { languageCode: sql`coalesce(excluded.language_code, ${users.languageCode})`, updatedAt: sql`now()` },
    })
    // xmax = 0 only on a freshly inserted row version: tells "created" from "updated" in one statement.
    .returning({ ...getTableColumns(users), created: sql<boolean>`(xmax = 0)` });
  if (!user) throw new Error('upsert returned no row');
  const { created, ...row } = user;
  // The row id is known only now: the sealed value is bound to it. One extra statement on first contact only.
  if (!row.telegramIdSealed) await sealInto(db, cipher, row, input.telegramId);
  return { user: toUser(row, input.telegramId), created: Boolean(created) };
}

/** The user with this Telegram id (found by its blind index), or null. */
export async function findUserByTelegramId(db: Db, telegramId: number): Promise<User | null> {
  if (!Number.isSafeInteger(telegramId) || telegramId <= 0) return null;
  const { indexKey } = keysOf(db);
  const [row] = await db
    .select()
    .from(users)
    .where(eq(users.telegramIdHash, telegramIdIndex(indexKey, telegramId)))
    .limit(1);
  return row ? toUser(row, telegramId) : null;
}

/** The user with this id, or null (also when their Telegram id can no longer be read: an erased person). */
export async function findUserById(db: Db, id: string): Promise<User | null> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  if (!row) return null;
  const [user] = await toUsers(db, [row]);
  return user ?? null;
}

/** Active admins (announcements of admin-only events, the two-person rule), oldest first. */
export async function listActiveAdmins(db: Db): Promise<User[]> {
  const rows = await db
    .select()
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.status, 'active')))
    .orderBy(asc(users.createdAt), asc(users.id));
  return toUsers(db, rows);
}

/**
 * One page of users (admin lists), oldest first, with the total count. A person whose Telegram id can no
 * longer be read (erasure under way) is left out of the page but still counted.
 */
export async function listUsersPage(
  db: Db,
  input: { offset: number; limit: number },
): Promise<{ rows: User[]; total: number }> {
  const [rows, [count]] = await Promise.all([
    db.select().from(users).orderBy(asc(users.createdAt), asc(users.id)).offset(input.offset).limit(input.limit),
    db.select({ total: sql<number>`count(*)::int` }).from(users),
  ]);
  return { rows: await toUsers(db, rows), total: Number(count?.total ?? 0) };
}

/**
 * Moves Telegram ids stored in clear (databases created before they were sealed) into the blind index and the
 * sealed column, and clears them; runs at start before anything is served. Batched, idempotent and safe to run
 * in several processes at once: a row is converted only while it still holds its clear id. A process of an
 * earlier version still running meanwhile could add a row in clear (and the index would not find it): stop
 * those before starting this one; the next start converts whatever they left.
 * @returns how many rows this call converted, and how many it skipped (converted meanwhile by another process or,
 *   never expected, another row already holding that index: left in clear for an operator; the caller logs it).
 */
export async function backfillTelegramIds(
  db: Db,
  options: { batchSize?: number } = {},
): Promise<{ converted: number; skipped: number }> {
  const { indexKey, cipher } = keysOf(db);
  const batchSize = options.batchSize ?? TELEGRAM_ID_BACKFILL_BATCH;
  let converted = 0;
  let skipped = 0;
  let after: string | undefined;
  for (;;) {
    const rows = await db
      .select({ id: users.id, telegramId: users.legacyTelegramId })
      .from(users)
      .where(and(isNotNull(users.legacyTelegramId), after ? sql`${users.id} > ${after}` : undefined))
      .orderBy(asc(users.id))
      .limit(batchSize);
    for (const { id, telegramId } of rows) {
      if (telegramId === null) continue;
      const hash = telegramIdIndex(indexKey, telegramId);
      let sealed: Buffer | null;
      try {
        sealed = await cipher.sealForUser(id, String(telegramId), sealedContext(id));
      } catch (error) {
        // Erased meanwhile: the index alone is kept (the row goes at the end of the erasure).
        if (!(error instanceof UserKeyShreddedError)) throw error;
        sealed = null;
      }
      const done = await db
        .update(users)
        .set({ telegramIdHash: hash, telegramIdSealed: sealed, legacyTelegramId: null })
        .where(
          and(
            eq(users.id, id),
            eq(users.legacyTelegramId, telegramId),
            // Another row already found by this index (never expected): leave this one for an operator.
            sql`not exists (select 1 from ${users} as other where other.telegram_id_hash = ${hash})`,
          ),
        )
        .returning({ id: users.id });
      if (done.length > 0) converted += 1;
      else skipped += 1;
    }
    if (rows.length < batchSize) return { converted, skipped };
    after = rows[rows.length - 1]?.id;
  }
}

/**
 * Records that Telegram refused to deliver to this person (they blocked the bot, or their account is
 * deactivated): messages to them are skipped until they are reachable again. Keeps the latest time it was seen.
 * @returns whether a user was found (and is now marked).
 */
export async function markBotBlocked(db: Db, telegramId: number): Promise<boolean> {
  if (!Number.isSafeInteger(telegramId) || telegramId <= 0) return false;
  const { indexKey } = keysOf(db);
  const rows = await db
    .update(users)
    // The latest block, not the first: a reachable mark for a message between two blocks must not clear the second.
    .set({ botBlockedAt: sql`now()` })
    .where(eq(users.telegramIdHash, telegramIdIndex(indexKey, telegramId)))
    .returning({ id: users.id });
  return rows.length > 0;
}

/** People heard from in their private chat at most per {@link markBotsReachable} statement. */
export const REACHABLE_BATCH_MAX = 500;

/**
 * Clears the marks of {@link markBotBlocked} for people who wrote to the bot in their private chat, in one
 * statement: each mark only when it is older than the moment that person was heard from, so a block recorded
 * after they wrote (by any process) stays. Writes only rows that carry a mark. At most
 * {@link REACHABLE_BATCH_MAX} people per call.
 * @returns how many marks were cleared.
 */
export async function markBotsReachable(db: Db, heard: readonly { telegramId: number; at: Date }[]): Promise<number> {
  const valid = heard.filter((entry) => Number.isSafeInteger(entry.telegramId) && entry.telegramId > 0);
  if (valid.length === 0) return 0;
  if (valid.length > REACHABLE_BATCH_MAX) throw new RangeError(`at most ${REACHABLE_BATCH_MAX} people per call`);
  const { indexKey } = keysOf(db);
  const values = sql.join(
    valid.map((entry) => sql`(${telegramIdIndex(indexKey, entry.telegramId)}, ${entry.at.toISOString()}::timestamptz)`),
    sql`, `,
  );
  const rows = await db
    .update(users)
    .set({ botBlockedAt: null })
    .from(sql`(values ${values}) as heard(hash, at)`)
    .where(sql`${users.telegramIdHash} = heard.hash and ${users.botBlockedAt} < heard.at`)
    .returning({ id: users.id });
  return rows.length;
}

/**
 * Clears the mark of {@link markBotBlocked}: the person wrote to the bot or unblocked it.
 * Writes only when the mark is set, so calling it for every message costs a lookup, never a row version.
 * @returns whether a mark was cleared.
 */
export async function markBotReachable(db: Db, telegramId: number): Promise<boolean> {
  if (!Number.isSafeInteger(telegramId) || telegramId <= 0) return false;
  const { indexKey } = keysOf(db);
  const rows = await db
    .update(users)
    .set({ botBlockedAt: null })
    .where(and(eq(users.telegramIdHash, telegramIdIndex(indexKey, telegramId)), isNotNull(users.botBlockedAt)))
    .returning({ id: users.id });
  return rows.length > 0;
}
