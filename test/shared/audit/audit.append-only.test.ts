/**
 * Someone with the application's database access (a bug, an injected statement, a careless script) rewrites or
 * removes audit entries to hide what happened: the database itself refuses UPDATE, DELETE and TRUNCATE of the
 * trail and its checkpoints, and any INSERT that does not extend the chain exactly at its head.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  auditEntryHash,
  createAuditCheckpoint,
  createAuditLog,
  deriveAuditSigningKey,
  GENESIS_HASH,
} from '#shared/audit/index.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { auditCheckpoints, auditLog } from '#shared/db/schema.ts';
import { recordMany, rejectionOf, sampleEvent } from '#test/helpers/audit.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
beforeEach(async () => {
  await database.truncate();
});
afterAll(async () => {
  await database.close();
});

describe('the audit trail is append-only', () => {
  it('refuses to update an entry, through Drizzle or raw SQL', async () => {
    const audit = createAuditLog({ db: database.db });
    await recordMany(audit, 3);
    expect(
      await rejectionOf(database.db.update(auditLog).set({ result: 'failure' }).where(eq(auditLog.seq, 2))),
    ).toMatch(/audit_log is append-only: UPDATE is not allowed/);
    expect(await rejectionOf(database.db.execute(sql`update audit_log set ip_prefix = null`))).toMatch(
      /append-only: UPDATE/,
    );
    const [row] = await database.db.select().from(auditLog).where(eq(auditLog.seq, 2));
    expect(row?.result).toBe('success');
  });

  it('refuses to delete entries within the retention period, one or all', async () => {
    const audit = createAuditLog({ db: database.db });
    await recordMany(audit, 3);
    expect(await rejectionOf(database.db.delete(auditLog).where(eq(auditLog.seq, 1)))).toMatch(
      /audit_log is append-only: DELETE is not allowed/,
    );
    expect(await rejectionOf(database.db.execute(sql`delete from audit_log`))).toMatch(/append-only: DELETE/);
    expect(await database.db.$count(auditLog)).toBe(3);
  });

  it('refuses TRUNCATE of the trail and of its checkpoints (statement-level trigger)', async () => {
    const audit = createAuditLog({ db: database.db });
    await recordMany(audit, 2);
    await createAuditCheckpoint(database.db, { signingKey: deriveAuditSigningKey(randomBytesOf(32)) });
    expect(await rejectionOf(database.db.execute(sql`truncate audit_log`))).toMatch(
      /audit_log is append-only: TRUNCATE is not allowed/,
    );
    expect(await rejectionOf(database.db.execute(sql`truncate audit_checkpoints`))).toMatch(
      /audit_checkpoints is append-only: TRUNCATE is not allowed/,
    );
    expect(await database.db.$count(auditLog)).toBe(2);
    expect(await database.db.$count(auditCheckpoints)).toBe(1);
  });

  it('refuses to update or delete a checkpoint', async () => {
    const audit = createAuditLog({ db: database.db });
    await recordMany(audit, 2);
    await createAuditCheckpoint(database.db, { signingKey: deriveAuditSigningKey(randomBytesOf(32)) });
    expect(await rejectionOf(database.db.update(auditCheckpoints).set({ keyId: 'mine' }))).toMatch(
      /audit_checkpoints is append-only: UPDATE/,
    );
    expect(await rejectionOf(database.db.delete(auditCheckpoints))).toMatch(/audit_checkpoints is append-only: DELETE/);
  });

  it('refuses an INSERT that does not extend the chain at its head, even with a correct hash', async () => {
    const audit = createAuditLog({ db: database.db });
    const [first, second] = await recordMany(audit, 2);
    if (!first || !second) throw new Error('fixture');
    const forged = (seq: number, prevHash: Buffer) => {
      const fields = {
        seq,
        id: '6f1d0c56-4d7b-4b8e-8f55-3b1e2a9c0d01',
        occurredAt: new Date(),
        actorType: 'system' as const,
        actorId: 'intruder',
        action: 'auth.login',
        targetType: null,
        targetId: null,
        subjectUserId: null,
        result: 'success' as const,
        reasonCode: null,
        requestId: null,
        source: 'api' as const,
        ipPrefix: null,
        details: null,
        prevHash,
      };
      return database.db.insert(auditLog).values({ ...fields, hash: auditEntryHash(fields) });
    };
    const headHash = Buffer.from(second.hash, 'hex');
    // A back-dated entry in the middle, a skipped position, a fork from an older entry, a second genesis.
    expect(await rejectionOf(forged(2, Buffer.from(first.hash, 'hex')))).toMatch(/must extend the chain at its head/);
    expect(await rejectionOf(forged(4, headHash))).toMatch(/must extend the chain at its head \(seq 3/);
    expect(await rejectionOf(forged(3, Buffer.from(first.hash, 'hex')))).toMatch(/must extend the chain/);
    expect(await rejectionOf(forged(1, GENESIS_HASH))).toMatch(/must extend the chain/);
    expect(await database.db.$count(auditLog)).toBe(2);
    // The head itself is accepted: appending is what the trail is for.
    await forged(3, headHash);
    expect(await database.db.$count(auditLog)).toBe(3);
  });

  it('lets the first entry start only at seq 1 from the all-zero hash', async () => {
    const fields = {
      seq: 1,
      id: '1b7c7f0e-2d55-4d9e-b0a4-6f0b8e3c5a22',
      occurredAt: new Date(),
      actorType: 'anonymous' as const,
      actorId: null,
      action: 'auth.login',
      targetType: null,
      targetId: null,
      subjectUserId: null,
      result: 'failure' as const,
      reasonCode: 'INVALID_INIT_DATA',
      requestId: null,
      source: 'api' as const,
      ipPrefix: null,
      details: null,
      prevHash: Buffer.alloc(32, 1),
    };
    expect(await rejectionOf(database.db.insert(auditLog).values({ ...fields, hash: auditEntryHash(fields) }))).toMatch(
      /first entry must have seq 1 and the all-zero prev_hash/,
    );
    await createAuditLog({ db: database.db }).record(sampleEvent());
    expect(await database.db.$count(auditLog)).toBe(1);
  });
});
