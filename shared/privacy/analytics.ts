/**
 * The usage-analytics consumer: counts feature use per person per day, and only for people who consented to
 * the `analytics` purpose and have not restricted processing. Every write goes through {@link mayProcess}.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { usageCounters } from '../db/schema-privacy.ts';
import { mayProcess } from './consent.ts';

const EVENT_PATTERN = /^[a-z][a-z0-9_.]{0,63}$/;

/**
 * Counts one use of `event` for the person today, when they allow it.
 * @returns true when counted, false when consent is missing or processing is restricted.
 * @throws Error for an event name that is not a lower-case dotted word (a bug in the caller).
 */
export async function countUsage(db: Db, userId: string, event: string, now: Date = new Date()): Promise<boolean> {
  if (!EVENT_PATTERN.test(event)) throw new Error('Usage events are lower-case dotted words');
  // Consent first: without it nothing about this person is written (GDPR Art. 6(1)(a), 7).
  if (!(await mayProcess(db, userId, 'analytics'))) return false;
  await db
    .insert(usageCounters)
    .values({ userId, day: now.toISOString().slice(0, 10), event })
    .onConflictDoUpdate({
      target: [usageCounters.userId, usageCounters.day, usageCounters.event],
      set: { count: sql`${usageCounters.count} + 1` },
    });
  return true;
}
