/**
 * Entries written at the same moment by several processes must not skip, repeat or fork a position of the
 * chain: a gap would hide a removal and a fork could not be verified. Every entry links to the one committed
 * just before it, over an encoding where no two different entries hash alike.
 */
import { createHash } from 'node:crypto';
import { asc } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditChainFields,
  auditEntryHash,
  createAuditLog,
  GENESIS_HASH,
  verifyAuditLog,
} from '#shared/audit/index.ts';
import { connectDatabase, type Database } from '#shared/db/index.ts';
import { auditLog } from '#shared/db/schema.ts';
import { sampleEvent } from '#test/helpers/audit.ts';
import { createTestDatabase, type TestDatabase, usesServer } from '#test/helpers/test-db.ts';

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

/** Every entry: seq 1..n without gaps, each prev_hash the previous entry's hash, each hash over its contents. */
async function expectIntactChain(count: number): Promise<void> {
  const rows = await database.db.select().from(auditLog).orderBy(asc(auditLog.seq));
  expect(rows.map((row) => row.seq)).toEqual(Array.from({ length: count }, (_, index) => index + 1));
  let previous = GENESIS_HASH;
  for (const row of rows) {
    expect(row.prevHash.equals(previous)).toBe(true);
    expect(auditEntryHash(row).equals(row.hash)).toBe(true);
    previous = row.hash;
  }
  expect(new Set(rows.map((row) => row.id)).size).toBe(count);
  const verification = await verifyAuditLog(database.db, { publicKeys: [] });
  expect(verification).toMatchObject({ ok: true, checked: count, firstSeq: 1, lastSeq: count });
}

describe('the audit hash chain', () => {
  it(
    usesServer
      ? 'stays gapless and linked with 4 processes (pools) writing 240 entries at once'
      : 'stays gapless and linked with 240 concurrent writers',
    async () => {
      const writers = 4;
      const perWriter = 60;
      // On the server each writer is its own pool, as separate processes would be; PGlite serves one process.
      const pools: Database[] = usesServer
        ? await Promise.all(
            Array.from({ length: writers }, () => connectDatabase({ databaseUrl: database.url, poolMax: 5 })),
          )
        : [];
      try {
        const logs = Array.from({ length: writers }, (_, index) =>
          createAuditLog({ db: pools[index]?.db ?? database.db }),
        );
        const recorded = await Promise.all(
          logs.flatMap((audit, writer) =>
            Array.from({ length: perWriter }, (_, index) =>
              audit.record(sampleEvent({ requestId: `w${writer}-${index}` })),
            ),
          ),
        );
        expect(new Set(recorded.map((record) => record.seq)).size).toBe(writers * perWriter);
        await expectIntactChain(writers * perWriter);
      } finally {
        await Promise.all(pools.map((pool) => pool.close()));
      }
    },
  );

  it('keeps time in chain order even when a writer’s clock goes backwards', async () => {
    let clock = Date.parse('2026-03-01T12:00:00.000Z');
    const audit = createAuditLog({ db: database.db, now: () => new Date(clock) });
    const first = await audit.record(sampleEvent());
    clock -= 60_000; // a skewed process
    const second = await audit.record(sampleEvent());
    expect(second.seq).toBe(first.seq + 1);
    expect(second.occurredAt.getTime()).toBe(first.occurredAt.getTime());
    await expectIntactChain(2);
  });

  it('round-trips every column exactly, so what is read back hashes as what was written', async () => {
    const audit = createAuditLog({ db: database.db, now: () => new Date('2026-03-01T12:00:00.123Z') });
    const record = await audit.record(
      sampleEvent({
        actor: { type: 'user', id: '0E7F3F4C-6A8B-4F1E-9A51-0C3F6B8F2D11' }, // upper case is normalised
        action: 'role.changed',
        target: { type: 'user', id: '5a4f1c2e-0b9d-4e6f-8a7b-3c2d1e0f9a8b' },
        subjectUserId: '5a4f1c2e-0b9d-4e6f-8a7b-3c2d1e0f9a8b',
        reasonCode: 'ADMIN_DECISION',
        ip: '2001:db8:1234:5678::1',
        source: 'bot',
      }),
    );
    const [row] = await database.db.select().from(auditLog);
    if (!row) throw new Error('no row');
    expect(row.occurredAt.toISOString()).toBe('2026-03-01T12:00:00.123Z');
    expect(row.actorId).toBe('0e7f3f4c-6a8b-4f1e-9a51-0c3f6b8f2d11');
    expect(row.ipPrefix).toBe('2001:db8:1234::/48');
    expect(auditEntryHash(row).toString('hex')).toBe(record.hash);
  });
});

describe('the canonical encoding', () => {
  const entry: AuditChainFields = {
    seq: 1,
    id: '00000000-0000-4000-8000-000000000001',
    occurredAt: new Date('2026-01-02T03:04:05.678Z'),
    actorType: 'user',
    actorId: '00000000-0000-4000-8000-0000000000aa',
    action: 'auth.login',
    targetType: null,
    targetId: null,
    subjectUserId: '00000000-0000-4000-8000-0000000000aa',
    result: 'success',
    reasonCode: null,
    requestId: 'req-1',
    source: 'api',
    ipPrefix: '198.51.100.0/24',
    details: null,
    prevHash: GENESIS_HASH,
  };

  it('is SHA-256 over a tag and length-prefixed fields in a fixed order (written out by hand here)', () => {
    const present = (value: string | Buffer) => {
      const bytes = typeof value === 'string' ? Buffer.from(value) : value;
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return Buffer.concat([Buffer.from([1]), length, bytes]);
    };
    const absent = Buffer.from([0]);
    const expected = createHash('sha256')
      .update(
        Buffer.concat([
          present('tsp:audit-entry:v1'),
          present('1'),
          present('00000000-0000-4000-8000-000000000001'),
          present('2026-01-02T03:04:05.678Z'),
          present('user'),
          present('00000000-0000-4000-8000-0000000000aa'),
          present('auth.login'),
          absent, // target_type
          absent, // target_id
          present('00000000-0000-4000-8000-0000000000aa'),
          present('success'),
          absent, // reason_code
          present('req-1'),
          present('api'),
          present('198.51.100.0/24'),
          absent, // details
          present(Buffer.alloc(32)),
        ]),
      )
      .digest('hex');
    expect(auditEntryHash(entry).toString('hex')).toBe(expected);
    // Pinned: changing the encoding would orphan every chain already written.
    expect(expected).toBe('f0a6f20ee508719b25640bc6c029cb1341028ac60bc0f5357ea70729246fd512');
  });

  it('tells apart entries that plain concatenation would confuse', () => {
    const hash = (changes: Partial<AuditChainFields>) => auditEntryHash({ ...entry, ...changes }).toString('hex');
    // Bytes moved across a field boundary.
    expect(hash({ targetType: 'ab', targetId: 'c' })).not.toBe(hash({ targetType: 'a', targetId: 'bc' }));
    // Null is not the empty string.
    expect(hash({ reasonCode: null })).not.toBe(hash({ reasonCode: '' }));
    // Empty details are not absent details.
    expect(hash({ details: Buffer.alloc(0) })).not.toBe(hash({ details: null }));
  });

  it('covers every column: changing any one changes the hash', () => {
    const base = auditEntryHash(entry).toString('hex');
    const changes: Partial<AuditChainFields>[] = [
      { seq: 2 },
      { id: '00000000-0000-4000-8000-000000000002' },
      { occurredAt: new Date('2026-01-02T03:04:05.679Z') },
      { actorType: 'system' },
      { actorId: null },
      { action: 'auth.logout' },
      { targetType: 'user' },
      { targetId: 'x' },
      { subjectUserId: null },
      { result: 'failure' },
      { reasonCode: 'X' },
      { requestId: 'req-2' },
      { source: 'bot' },
      { ipPrefix: '198.51.101.0/24' },
      { details: Buffer.from([1]) },
      { prevHash: Buffer.alloc(32, 1) },
    ];
    const hashes = changes.map((change) => auditEntryHash({ ...entry, ...change }).toString('hex'));
    expect(hashes).not.toContain(base);
    expect(new Set(hashes).size).toBe(changes.length);
  });
});
