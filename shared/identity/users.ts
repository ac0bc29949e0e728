/**
 * Users: the person behind a Telegram id. Only what the product needs is stored (data minimisation):
 * the Telegram id, a role, a status and the language to answer in.
 */
import { eq, getTableColumns, sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { type User, type UserRole, users } from '../db/schema.ts';

/** Telegram's `language_code` is an IETF tag; anything else is dropped rather than stored. */
const LANGUAGE_CODE_PATTERN = /^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8}){0,3}$/;

export function normaliseLanguageCode(code: string | undefined): string | null {
  return code && code.length <= 35 && LANGUAGE_CODE_PATTERN.test(code) ? code.toLowerCase() : null;
}

/**
 * Creates the user on first contact (`created: true`) or refreshes their language; bootstrap admins (ADMIN_TELEGRAM_IDS) get
 * the admin role on creation.
 * @example await upsertTelegramUser(db, { telegramId: 42, languageCode: 'en', adminTelegramIds: [] });
 */
export async function upsertTelegramUser(
  db: Db,
  input: { telegramId: number; languageCode?: string | undefined; adminTelegramIds: readonly number[] },
): Promise<{ user: User; created: boolean }> {
  if (!Number.isSafeInteger(input.telegramId) || input.telegramId <= 0)
    throw new Error('telegramId must be a positive integer');
  const role: UserRole = input.adminTelegramIds.includes(input.telegramId) ? 'admin' : 'user';
  const languageCode = normaliseLanguageCode(input.languageCode);
  const [user] = await db
    .insert(users)
    .values({ telegramId: input.telegramId, role, languageCode })
    .onConflictDoUpdate({
      target: users.telegramId,
      set: { languageCode: sql`coalesce(excluded.language_code, ${users.languageCode})`, updatedAt: sql`now()` },
    })
    // xmax = 0 only on a freshly inserted row version: tells "created" from "updated" in one statement.
    .returning({ ...getTableColumns(users), created: sql<boolean>`(xmax = 0)` });
  if (!user) throw new Error('upsert returned no row');
  const { created, ...row } = user;
  return { user: row, created: Boolean(created) };
}

/** The user with this Telegram id, or null. */
export async function findUserByTelegramId(db: Db, telegramId: number): Promise<User | null> {
  const [user] = await db.select().from(users).where(eq(users.telegramId, telegramId)).limit(1);
  return user ?? null;
}

/** The user with this id, or null. */
export async function findUserById(db: Db, id: string): Promise<User | null> {
  const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return user ?? null;
}
