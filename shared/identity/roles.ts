/** Role changes, with the rule that the last active admin cannot be demoted (nobody could administer then). */
import { and, eq, ne, sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { type UserRole, type UserRow, users } from '../db/schema.ts';
import { defineErrorCodes, errorFactory } from '../errors.ts';

export const RoleErrors = defineErrorCodes({
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  LAST_ADMIN: { status: 409, message: 'This is the last admin: make someone else an admin first.' },
  NOT_AN_ADMIN: { status: 403, message: 'Only an active admin can change roles: your own role has changed.' },
});
const fail = errorFactory(RoleErrors);
/** Serialises role changes so two admins demoting each other at once cannot both succeed. */
const ROLE_LOCK_KEY = 7_201_522_401;

/**
 * Sets a user's role. With `actorId`, the actor must still be an active admin when the change is made (their
 * request was authorised a moment earlier, possibly before a concurrent change demoted them).
 * @throws DomainError USER_NOT_FOUND, LAST_ADMIN, NOT_AN_ADMIN
 */
export async function changeRole(
  db: Db,
  input: { userId: string; role: UserRole; actorId?: string },
): Promise<{ user: UserRow; previous: UserRole; changed: boolean }> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${ROLE_LOCK_KEY})`);
    if (input.actorId !== undefined) {
      // Read under the lock: an admin demoted by a change that committed first cannot still act on old authority.
      const [actor] = await tx
        .select({ role: users.role, status: users.status })
        .from(users)
        .where(eq(users.id, input.actorId));
      if (actor?.role !== 'admin' || actor.status !== 'active') throw fail('NOT_AN_ADMIN');
    }
    const [user] = await tx.select().from(users).where(eq(users.id, input.userId)).for('update');
    if (!user) throw fail('USER_NOT_FOUND');
    if (user.role === input.role) return { user, previous: user.role, changed: false };
    if (user.role === 'admin') {
      const [others] = await tx
        .select({ count: sql<number>`count(*)::int` })
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.status, 'active'), ne(users.id, user.id)));
      if (!others || Number(others.count) === 0) throw fail('LAST_ADMIN');
    }
    const [updated] = await tx
      .update(users)
      .set({ role: input.role, updatedAt: new Date() })
      .where(eq(users.id, user.id))
      .returning();
    return { user: updated as UserRow, previous: user.role, changed: true };
  });
}
