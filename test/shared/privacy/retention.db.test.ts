/**
 * Retention must remove exactly what is expired: keeping data past its period breaks the promise of the policy,
 * deleting it early destroys what people and the law rely on. A dry run reports without removing; a restricted
 * person's data is kept (Art. 18(1)(c)); each run is bounded and the next one carries on.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { privacyRequests, usageCounters } from '#shared/db/schema-privacy.ts';
import {
  ANALYTICS_RETENTION_DAYS,
  applyRetention,
  REQUEST_RETENTION_DAYS,
  retentionRules,
  setRestriction,
} from '#shared/privacy/index.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database.close());
beforeEach(async () => database.truncate());

const DAY = 86_400_000;
const now = new Date('2026-06-15T12:00:00.000Z');
const daysAgo = (days: number) => new Date(now.getTime() - days * DAY);

async function seedCounters(userId: string, ages: number[]) {
  await database.db.insert(usageCounters).values(
    ages.map((age, index) => ({
      userId,
      day: `2026-01-${String((index % 28) + 1).padStart(2, '0')}`,
      event: `e${index}`,
      createdAt: daysAgo(age),
    })),
  );
}
const remaining = async (userId?: string) => {
  const result = await database.db.execute(
    userId
      ? sql`select count(*)::int as n from usage_counters where user_id = ${userId}`
      : sql`select count(*)::int as n from usage_counters`,
  );
  return (result as unknown as { rows: { n: number }[] }).rows[0]?.n;
};

describe('retention', () => {
  it('derives its rules from the data map (and leaves the audit trail to its own pruning)', () => {
    const rules = retentionRules();
    expect(rules).toContainEqual({
      table: 'usage_counters',
      action: 'delete',
      columns: [],
      days: ANALYTICS_RETENTION_DAYS,
      clock: 'created_at',
    });
    expect(rules).toContainEqual({
      table: 'privacy_requests',
      action: 'delete',
      columns: [],
      days: REQUEST_RETENTION_DAYS,
      clock: 'created_at',
    });
    expect(rules.some((rule) => rule.table.startsWith('audit_'))).toBe(false);
  });

  it('dry run reports exactly the expired rows and removes nothing', async () => {
    const userId = randomUUID();
    await seedCounters(userId, [
      ANALYTICS_RETENTION_DAYS + 1,
      ANALYTICS_RETENTION_DAYS + 30,
      ANALYTICS_RETENTION_DAYS - 1,
      1,
    ]);
    const report = await applyRetention({ db: database.db, dryRun: true, now });
    expect(report.results.find((r) => r.table === 'usage_counters')?.rows).toBe(2);
    expect(await remaining()).toBe(4);
  });

  it('removes exactly the expired rows, in bounded runs that carry on', async () => {
    const userId = randomUUID();
    const expired = Array.from({ length: 25 }, (_, i) => ANALYTICS_RETENTION_DAYS + 1 + i);
    const fresh = [0, 10, ANALYTICS_RETENTION_DAYS - 1];
    await seedCounters(userId, [...expired, ...fresh]);
    await database.db.insert(privacyRequests).values([
      { userId, kind: 'access', status: 'completed', createdAt: daysAgo(REQUEST_RETENTION_DAYS + 1), dueAt: now },
      { userId, kind: 'access', status: 'completed', createdAt: daysAgo(REQUEST_RETENTION_DAYS - 1), dueAt: now },
    ]);
    const first = await applyRetention({ db: database.db, now, batchSize: 7, maxRows: 10 });
    expect(first.complete).toBe(false);
    expect(first.total).toBe(10);
    const second = await applyRetention({ db: database.db, now, batchSize: 7 });
    expect(second.complete).toBe(true);
    // 25 expired counters and 1 expired request in all, over the two runs.
    expect(first.total + second.total).toBe(26);
    const removed = (table: string) =>
      [first, second].reduce((sum, run) => sum + (run.results.find((r) => r.table === table)?.rows ?? 0), 0);
    expect(removed('usage_counters')).toBe(25);
    expect(removed('privacy_requests')).toBe(1);
    expect(await remaining()).toBe(fresh.length);
    const left = await database.db.select({ createdAt: usageCounters.createdAt }).from(usageCounters);
    for (const row of left)
      expect(row.createdAt.getTime()).toBeGreaterThan(daysAgo(ANALYTICS_RETENTION_DAYS).getTime());
    const third = await applyRetention({ db: database.db, now });
    expect(third.total).toBe(0);
  });

  it('keeps a restricted person’s data', async () => {
    const restricted = randomUUID();
    const other = randomUUID();
    await seedCounters(restricted, [ANALYTICS_RETENTION_DAYS + 5]);
    await seedCounters(other, [ANALYTICS_RETENTION_DAYS + 5]);
    await setRestriction(database.db, restricted, true);
    await applyRetention({ db: database.db, now });
    expect(await remaining(restricted)).toBe(1);
    expect(await remaining(other)).toBe(0);
  });
});
