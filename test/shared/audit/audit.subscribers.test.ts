/**
 * Intrusion detection and metrics listen to the same entries the trail records: they must never see personal
 * details, and a listener that throws, rejects or tampers with what it is given must never stop a security
 * event from being recorded or change what other listeners see.
 */
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AuditRecord, createAuditLog } from '#shared/audit/index.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import { auditLog } from '#shared/db/schema.ts';
import { createLogger } from '#shared/logger.ts';
import { asSuperuser, sampleEvent } from '#test/helpers/audit.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';

const ADA = '3f1c9a2e-7b6d-4e5f-9a8b-0c1d2e3f4a5b';

let database: TestDatabase;
let keystore: TestDatabase;
let cipher: UserKeys;
beforeAll(async () => {
  [database, keystore] = await Promise.all([createTestDatabase(), createTestKeystore()]);
  cipher = createUserKeys({ keystore: keystore.db, ring: await loadKeyRing(database.db, randomBytesOf(32)) });
});
beforeEach(async () => {
  await asSuperuser(database.db, [sql`truncate audit_log, audit_checkpoints`]);
});
afterAll(async () => {
  await Promise.all([database.close(), keystore.close()]);
});

/** A real logger writing into an array. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'warn' }, stream), lines };
}

describe('audit listeners', () => {
  it('receive each committed entry, in order, without its details', async () => {
    const audit = createAuditLog({ db: database.db, cipher });
    const seen: AuditRecord[] = [];
    audit.subscribe((record) => {
      seen.push(record);
    });
    await audit.record(sampleEvent({ action: 'auth.login', result: 'failure', reasonCode: 'INVALID_INIT_DATA' }));
    await audit.record(
      sampleEvent({ action: 'mfa.totp_enabled', subjectUserId: ADA, details: { deviceLabel: 'Ada’s phone' } }),
    );
    expect(seen.map((record) => [record.seq, record.action, record.result])).toEqual([
      [1, 'auth.login', 'failure'],
      [2, 'mfa.totp_enabled', 'success'],
    ]);
    expect(seen[0]).toMatchObject({ reasonCode: 'INVALID_INIT_DATA', ipPrefix: '198.51.100.0/24', source: 'api' });
    expect(seen[1]?.hasDetails).toBe(true);
    expect(JSON.stringify(seen)).not.toContain('Ada’s phone');
    expect(Object.keys(seen[1] ?? {})).not.toContain('details');
  });

  it('that throw or reject are reported and skipped: the entry is recorded and the others still hear it', async () => {
    const { logger, lines } = capturingLogger();
    const audit = createAuditLog({ db: database.db, logger });
    const heard: number[] = [];
    audit.subscribe(() => {
      throw new Error('detector crashed');
    });
    audit.subscribe(async () => {
      throw new Error('metrics backend down');
    });
    audit.subscribe((record) => {
      heard.push(record.seq);
    });
    const record = await audit.record(sampleEvent({ action: 'security.rate_limited', result: 'denied' }));
    await new Promise((resolve) => setImmediate(resolve)); // let the rejected listener settle
    expect(record.seq).toBe(1);
    expect(heard).toEqual([1]);
    expect(await database.db.$count(auditLog)).toBe(1);
    expect(lines.map((line) => [line.msg, line.err, line.action, line.seq])).toEqual([
      ['Audit listener failed', 'detector crashed', 'security.rate_limited', 1],
      ['Audit listener failed', 'metrics backend down', 'security.rate_limited', 1],
    ]);
  });

  it('cannot change what the next listener or the caller sees, and can unsubscribe', async () => {
    const audit = createAuditLog({ db: database.db });
    const seen: string[] = [];
    const stop = audit.subscribe((record) => {
      record.occurredAt.setTime(0); // a copy: Dates cannot be frozen
      (record.actor as { id: string | null }).id = null; // frozen: throws in strict mode, reported, skipped
    });
    audit.subscribe((record) => {
      seen.push(`${record.result} ${record.actor.id} ${record.occurredAt.getTime() > 0}`);
    });
    const record = await audit.record(sampleEvent({ result: 'denied' }));
    const actor = sampleEvent().actor;
    const actorId = actor.type === 'user' ? actor.id : '';
    expect(seen).toEqual([`denied ${actorId} true`]);
    expect(record.actor.id).toBe(actorId);
    expect(record.occurredAt.getTime()).toBeGreaterThan(0);
    stop();
    await audit.record(sampleEvent({ result: 'failure' }));
    expect(seen).toEqual([`denied ${actorId} true`, `failure ${actorId} true`]);
  });

  it('are not called for an entry that was not recorded', async () => {
    const audit = createAuditLog({ db: database.db });
    const seen: AuditRecord[] = [];
    audit.subscribe((record) => {
      seen.push(record);
    });
    await expect(audit.record(sampleEvent({ action: 'Not An Action' }))).rejects.toThrow(/Audit event rejected/);
    expect(seen).toEqual([]);
  });
});
