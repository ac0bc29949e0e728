/**
 * A superuser, the table owner or an attacker holding the database credentials switches the append-only
 * triggers off and alters, removes or reorders entries, or rewrites the chain and recomputes every hash:
 * verification names the first broken link by its seq, and a rewritten chain no longer matches its signed
 * checkpoints.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditSigningKey,
  auditEntryHash,
  createAuditCheckpoint,
  createAuditLog,
  deriveAuditSigningKey,
  verifyAuditLog,
} from '#shared/audit/index.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { type AuditLogRow, auditLog } from '#shared/db/schema.ts';
import { asSuperuser, recordMany, sampleEvent } from '#test/helpers/audit.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

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

const ENTRIES = 30;

/** 30 entries, a checkpoint at 20, and small batches so breaks are found across batch boundaries too. */
async function seed(): Promise<void> {
  const audit = createAuditLog({ db: database.db });
  await recordMany(audit, 20, (index) => sampleEvent({ requestId: `req-${index}`, result: 'success' }));
  await createAuditCheckpoint(database.db, { signingKey });
  await recordMany(audit, ENTRIES - 20, (index) => sampleEvent({ requestId: `late-${index}` }));
}

const verify = () => verifyAuditLog(database.db, { publicKeys: [signingKey.publicKey], batchSize: 7 });

describe('verification catches tampering', () => {
  it('passes an untouched trail, counting every entry and the checkpoint', async () => {
    await seed();
    expect(await verify()).toMatchObject({
      ok: true,
      checked: ENTRIES,
      firstSeq: 1,
      lastSeq: ENTRIES,
      checkpoints: { checked: 1, latest: { seq: 20 }, unsignedEntries: 10 },
    });
  });

  it('an altered entry: names its seq (hash mismatch)', async () => {
    await seed();
    await asSuperuser(database.db, [sql`update audit_log set result = 'failure' where seq = 7`]);
    const result = await verify();
    expect(result.ok).toBe(false);
    expect(result.firstBroken).toMatchObject({ seq: 7, reason: 'hash_mismatch' });
    expect(result.firstBroken?.message).toMatch(/^seq 7: .*altered/);
    expect(result.checked).toBe(6);
  });

  it('an altered entry with the triggers disabled by ALTER TABLE (the owner’s way)', async () => {
    await seed();
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`alter table audit_log disable trigger user`);
      await tx.execute(sql`update audit_log set ip_prefix = null where seq = 25`);
      await tx.execute(sql`alter table audit_log enable trigger user`);
    });
    expect((await verify()).firstBroken).toMatchObject({ seq: 25, reason: 'hash_mismatch' });
  });

  it('a deleted entry: names the missing seq', async () => {
    await seed();
    await asSuperuser(database.db, [sql`delete from audit_log where seq = 12`]);
    expect((await verify()).firstBroken).toMatchObject({ seq: 12, reason: 'entry_missing' });
  });

  it('two entries swapped: names the first of them', async () => {
    await seed();
    await asSuperuser(database.db, [
      sql`update audit_log set seq = 1000005 where seq = 5`,
      sql`update audit_log set seq = 5 where seq = 6`,
      sql`update audit_log set seq = 6 where seq = 1000005`,
    ]);
    expect((await verify()).firstBroken).toMatchObject({ seq: 5, reason: 'prev_hash_mismatch' });
  });

  it('two entries’ contents swapped in place (positions and hashes kept): names the first of them', async () => {
    await seed();
    const columns = sql.raw(
      ['action', 'result', 'request_id', 'occurred_at'].map((column) => `${column} = other.${column}`).join(', '),
    );
    await asSuperuser(database.db, [
      sql`update audit_log set ${columns} from audit_log other
          where (audit_log.seq, other.seq) in ((15, 16), (16, 15))`,
    ]);
    expect((await verify()).firstBroken).toMatchObject({ seq: 15, reason: 'hash_mismatch' });
  });

  it('an entry rewritten and every later hash recomputed: the signed checkpoint no longer matches', async () => {
    await seed();
    // The attacker's best effort: a consistent chain that says something else from seq 7 on.
    const rows = (await database.db.select().from(auditLog).orderBy(auditLog.seq)) as AuditLogRow[];
    let previous: Buffer | undefined;
    const statements = [];
    for (const row of rows) {
      if (row.seq < 7) {
        previous = row.hash;
        continue;
      }
      const rewritten = {
        ...row,
        result: row.seq === 7 ? ('failure' as const) : row.result,
        prevHash: previous ?? row.prevHash,
      };
      const hash = auditEntryHash(rewritten);
      statements.push(
        sql`update audit_log set result = ${rewritten.result}, prev_hash = ${rewritten.prevHash}, hash = ${hash}
            where seq = ${row.seq}`,
      );
      previous = hash;
    }
    await asSuperuser(database.db, statements);
    const result = await verify();
    expect(result.firstBroken).toMatchObject({ seq: 20, reason: 'checkpoint_mismatch' });
    expect(result.checked).toBe(19);
  });

  it('the newest entries removed: a checkpoint covers entries that are gone', async () => {
    await seed();
    await createAuditCheckpoint(database.db, { signingKey }); // signs seq 30
    await asSuperuser(database.db, [sql`delete from audit_log where seq > 24`]);
    const result = await verify();
    expect(result.firstBroken).toMatchObject({ seq: 25, reason: 'entries_missing_at_end' });
  });

  it('the oldest entries removed within the retention period: the cut is not vouched for', async () => {
    await seed();
    await asSuperuser(database.db, [sql`delete from audit_log where seq <= 20`]);
    // Cut exactly at a checkpoint, but one that is recent: entries still to be kept were removed.
    expect((await verify()).firstBroken).toMatchObject({ seq: 21, reason: 'start_unanchored' });
    await asSuperuser(database.db, [sql`delete from audit_log where seq <= 22`]);
    expect((await verify()).firstBroken).toMatchObject({ seq: 23, reason: 'start_unanchored' });
  });

  it('an entry inserted in the middle (positions shifted up): names where the chain forks', async () => {
    await seed();
    const [row] = await database.db.select().from(auditLog).where(sql`seq = 10`);
    if (!row) throw new Error('fixture');
    await asSuperuser(database.db, [
      sql`update audit_log set seq = seq + 1000 where seq >= 10`,
      sql`update audit_log set seq = seq - 999 where seq >= 1010`,
      sql`insert into audit_log (seq, id, occurred_at, actor_type, action, result, source, prev_hash, hash)
          values (10, gen_random_uuid(), ${row.occurredAt}, 'anonymous', 'auth.login', 'success', 'api',
                  ${row.prevHash}, ${row.hash})`,
    ]);
    expect((await verify()).firstBroken).toMatchObject({ seq: 10, reason: 'hash_mismatch' });
  });
});
