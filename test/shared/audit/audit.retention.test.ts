/**
 * Entries are kept for AUDIT_RETENTION_DAYS and then pruned. Pruning must not become a way to delete recent
 * entries, must never remove the newest entry (the next one links to it), and must leave a chain that still
 * verifies from a start vouched for by a signed checkpoint.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AUDIT_RETENTION_DAYS,
  type AuditSigningKey,
  createAuditCheckpoint,
  createAuditLog,
  deriveAuditSigningKey,
  pruneAuditLog,
  verifyAuditLog,
} from '#shared/audit/index.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { auditLog } from '#shared/db/schema.ts';
import { recordMany, rejectionOf } from '#test/helpers/audit.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

const DAY_MS = 24 * 3600 * 1000;
const daysAgo = (days: number) => () => new Date(Date.now() - days * DAY_MS);

let database: TestDatabase;
let signingKey: AuditSigningKey;
beforeAll(async () => {
  database = await createTestDatabase();
  signingKey = deriveAuditSigningKey(randomBytesOf(32));
});
beforeEach(async () => {
  await database.truncate();
});
afterAll(async () => {
  await database.close();
});

describe('audit retention', () => {
  it('prunes entries past retention up to an old checkpoint, and the shortened chain still verifies', async () => {
    await recordMany(createAuditLog({ db: database.db, now: daysAgo(400) }), 5);
    await createAuditCheckpoint(database.db, { signingKey, now: daysAgo(399) });
    const audit = createAuditLog({ db: database.db });
    await recordMany(audit, 5);
    await createAuditCheckpoint(database.db, { signingKey });

    expect(await pruneAuditLog(database.db, { audit })).toEqual({ deleted: 5, firstSeq: 6 });
    const [pruned] = await database.db.select().from(auditLog).where(eq(auditLog.seq, 11));
    expect(pruned).toMatchObject({ action: 'audit.pruned', reasonCode: 'RETENTION_EXPIRED', targetId: '6' });
    expect(await verifyAuditLog(database.db, { publicKeys: [signingKey.publicKey] })).toMatchObject({
      ok: true,
      firstSeq: 6,
      lastSeq: 11,
      checked: 6,
      checkpoints: { checked: 2, latest: { seq: 10 }, unsignedEntries: 1 },
    });
    // Idempotent.
    expect(await pruneAuditLog(database.db, { audit })).toEqual({ deleted: 0, firstSeq: null });
  });

  it('prunes nothing without a checkpoint past retention to start the chain from', async () => {
    await recordMany(createAuditLog({ db: database.db, now: daysAgo(400) }), 3);
    await createAuditCheckpoint(database.db, { signingKey }); // signed today: too recent to anchor a cut
    await recordMany(createAuditLog({ db: database.db }), 2);
    expect(await pruneAuditLog(database.db)).toEqual({ deleted: 0, firstSeq: null });
    expect(await database.db.$count(auditLog)).toBe(5);
  });

  it(`lets the trigger delete only entries older than ${AUDIT_RETENTION_DAYS} days, never the newest`, async () => {
    await createAuditLog({ db: database.db, now: daysAgo(AUDIT_RETENTION_DAYS + 1) }).record({
      actor: { type: 'system', id: 'test' },
      action: 'test.old',
      result: 'success',
      source: 'worker',
    });
    await createAuditLog({ db: database.db, now: daysAgo(AUDIT_RETENTION_DAYS - 1) }).record({
      actor: { type: 'system', id: 'test' },
      action: 'test.recent',
      result: 'success',
      source: 'worker',
    });
    expect(await rejectionOf(database.db.delete(auditLog).where(eq(auditLog.seq, 2)))).toMatch(/append-only: DELETE/);
    await database.db.delete(auditLog).where(eq(auditLog.seq, 1));
    expect(await database.db.$count(auditLog)).toBe(1);
    // A cut not made at a checkpoint is reported by verification, even when the trigger allowed it.
    expect((await verifyAuditLog(database.db, { publicKeys: [] })).firstBroken).toMatchObject({
      seq: 2,
      reason: 'start_unanchored',
    });
  });

  it('keeps the newest entry even when it is past retention (the next entry links to it)', async () => {
    await recordMany(createAuditLog({ db: database.db, now: daysAgo(500) }), 2);
    expect(await rejectionOf(database.db.execute(sql`delete from audit_log`))).toMatch(/append-only: DELETE/);
    expect(await rejectionOf(database.db.delete(auditLog).where(eq(auditLog.seq, 2)))).toMatch(/append-only/);
    await database.db.delete(auditLog).where(eq(auditLog.seq, 1));
    expect(await database.db.$count(auditLog)).toBe(1);
  });
});
