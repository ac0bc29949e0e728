/**
 * The audit trail must not become a second copy of personal data and secrets that erasure cannot reach and a
 * leak would expose: addresses are cut to their network, ids and codes cannot carry names or emails, secrets
 * are refused outright, and personal details are sealed with the subject's data key so that destroying the key
 * erases them while the append-only, hash-chained entry stays intact and verifiable.
 */
import { randomUUID } from 'node:crypto';
import { desc, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditDetails,
  auditDetailsContext,
  auditEntryHash,
  createAuditLog,
  openAuditDetails,
  truncateIp,
  verifyAuditLog,
} from '#shared/audit/index.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import { auditLog } from '#shared/db/schema.ts';
import { asSuperuser, rejectionOf, rowsOf, sampleEvent } from '#test/helpers/audit.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';

const ADA = '3f1c9a2e-7b6d-4e5f-9a8b-0c1d2e3f4a5b';
const ADMIN = '9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4';

let database: TestDatabase;
let keystore: TestDatabase;
let cipher: UserKeys;
beforeAll(async () => {
  [database, keystore] = await Promise.all([createTestDatabase(), createTestKeystore()]);
  cipher = createUserKeys({ keystore: keystore.db, ring: await loadKeyRing(database.db, randomBytesOf(32)) });
});
beforeEach(async () => {
  // The key ring lives in the data database: empty only the audit tables.
  await asSuperuser(database.db, [sql`truncate audit_log, audit_checkpoints`]);
});
afterAll(async () => {
  await Promise.all([database.close(), keystore.close()]);
});

/** Every stored column of every entry, as text (what a dump or a leak shows). */
async function dumpAuditLog(): Promise<string> {
  return JSON.stringify(rowsOf(await database.db.execute(sql`select to_jsonb(a)::text as row from audit_log a`)));
}

describe('IP addresses', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['10.0.0.1', '10.0.0.0/24'],
    ['::ffff:203.0.113.77', '203.0.113.0/24'], // IPv4-mapped, as dual-stack sockets report IPv4 clients
    ['::FFFF:cb00:714d', '203.0.113.0/24'], // the same, in hex
    ['0:0:0:0:0:ffff:198.51.100.9', '198.51.100.0/24'],
    ['2001:db8:85a3:8d3:1319:8a2e:370:7348', '2001:db8:85a3::/48'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::/48'],
    ['2001:0:0:1::1', '2001::/48'],
    ['fe80::1%eth0', 'fe80::/48'],
    ['::1', '::/48'],
    ['64:ff9b::203.0.113.5', '64:ff9b::/48'],
  ])('%s is stored as its network %s', (address, prefix) => {
    expect(truncateIp(address)).toBe(prefix);
  });

  it.each(['', 'localhost', '203.0.113', '203.0.113.256', '[::1]', '1.2.3.4/32', 'alice@example.com'])(
    '%j is not an address and is not stored at all',
    (value) => {
      expect(truncateIp(value)).toBeNull();
    },
  );

  it('reach the database only as a /24 or /48, and the database refuses anything finer', async () => {
    const audit = createAuditLog({ db: database.db });
    await audit.record(sampleEvent({ ip: '203.0.113.77' }));
    await audit.record(sampleEvent({ ip: '2001:db8:85a3:8d3:1319:8a2e:370:7348' }));
    const dump = await dumpAuditLog();
    expect(dump).toContain('203.0.113.0/24');
    expect(dump).not.toContain('203.0.113.77');
    expect(dump).not.toContain('370:7348');

    // Even a writer that bypasses truncateIp (and the chain trigger) hits the check constraint.
    const [head] = await database.db.select().from(auditLog).orderBy(desc(auditLog.seq)).limit(1);
    if (!head) throw new Error('fixture');
    const fields = { ...head, seq: head.seq + 1, id: randomUUID(), prevHash: head.hash, ipPrefix: '203.0.113.77/32' };
    expect(await rejectionOf(database.db.insert(auditLog).values({ ...fields, hash: auditEntryHash(fields) }))).toMatch(
      /audit_log_ip_prefix_check/,
    );
  });
});

describe('no free text, no secrets', () => {
  it('refuses ids, codes and actions that could carry a name or an email', async () => {
    const audit = createAuditLog({ db: database.db });
    const cases = [
      sampleEvent({ target: { type: 'user', id: 'alice@example.com' } }),
      sampleEvent({ reasonCode: 'wrong password for alice' }),
      sampleEvent({ requestId: 'Alice Smith' }),
      sampleEvent({ action: 'Alice logged in' }),
      sampleEvent({ actor: { type: 'user', id: 'alice' } }),
      sampleEvent({ actor: { type: 'api_key', id: 'key of alice@example.com' } }),
      sampleEvent({ subjectUserId: 'alice' }),
    ];
    for (const event of cases) expect(await rejectionOf(audit.record(event))).toMatch(/^Audit event rejected/);
    expect(await database.db.$count(auditLog)).toBe(0);
  });

  it('refuses details that name a secret or a raw address, naming the key but never the value', async () => {
    const audit = createAuditLog({ db: database.db, cipher });
    const secretDetails: AuditDetails[] = [
      { password: 'hunter2-value' },
      { totpCode: '123456' },
      { nested: { refresh_token: 'rt-value' } },
      { list: [{ 'api-key': 'k-value' }] },
      { ipAddress: '203.0.113.77' },
    ];
    for (const details of secretDetails) {
      const message = await rejectionOf(audit.record(sampleEvent({ subjectUserId: ADA, details })));
      expect(message).toMatch(/looks like a secret or a raw address/);
      expect(message).not.toMatch(/hunter2|123456|rt-value|k-value|203\.0\.113/);
    }
    expect(await database.db.$count(auditLog)).toBe(0);
  });

  it('needs a subject and a cipher to store details at all', async () => {
    expect(
      await rejectionOf(
        createAuditLog({ db: database.db, cipher }).record(
          sampleEvent({ actor: { type: 'anonymous' }, details: { telegramUsername: 'ada' } }),
        ),
      ),
    ).toMatch(/details need a subjectUserId/);
    expect(
      await rejectionOf(
        createAuditLog({ db: database.db }).record(sampleEvent({ details: { telegramUsername: 'ada' } })),
      ),
    ).toMatch(/need a cipher/);
  });
});

describe('personal details', () => {
  it('are sealed with the subject’s data key, bound to their entry, and shredded without touching the entry', async () => {
    const audit = createAuditLog({ db: database.db, cipher });
    const details = { telegramUsername: 'ada_lovelace_1815', previousRole: 'user', newRole: 'admin' };
    const changed = await audit.record({
      actor: { type: 'user', id: ADMIN },
      action: 'role.changed',
      target: { type: 'user', id: ADA },
      subjectUserId: ADA,
      result: 'success',
      source: 'bot',
      details,
    });
    const other = await audit.record(sampleEvent({ subjectUserId: ADMIN, details: { telegramUsername: 'root' } }));
    expect(changed.hasDetails).toBe(true);
    expect(await dumpAuditLog()).not.toContain('ada_lovelace_1815');

    const rows = await database.db.select().from(auditLog).orderBy(auditLog.seq);
    const [row, otherRow] = rows;
    if (!row || !otherRow) throw new Error('fixture');
    expect(row.subjectUserId).toBe(ADA);
    expect(await openAuditDetails(cipher, row)).toEqual(details);
    // Sealed for this entry: the same ciphertext under another entry's id does not open.
    await expect(
      cipher.openForUser(ADA, row.details ?? Buffer.alloc(0), auditDetailsContext(other.id)),
    ).rejects.toThrow();

    // Erasure destroys the key: nothing in the append-only trail is rewritten, and the chain still verifies.
    await cipher.shred(ADA);
    expect(await openAuditDetails(cipher, row)).toBeNull();
    expect(await openAuditDetails(cipher, otherRow)).toEqual({ telegramUsername: 'root' });
    const [after] = await database.db.select().from(auditLog).orderBy(auditLog.seq).limit(1);
    expect(after?.details?.equals(row.details ?? Buffer.alloc(0))).toBe(true);
    expect(await verifyAuditLog(database.db, { publicKeys: [] })).toMatchObject({ ok: true, checked: 2 });

    // Nothing new is sealed for an erased person; the caller records the event without details instead.
    expect(await rejectionOf(audit.record(sampleEvent({ subjectUserId: ADA, details: { again: true } })))).toMatch(
      /destroyed/,
    );
    await audit.record(sampleEvent({ subjectUserId: ADA, action: 'privacy.erasure_completed' }));
    expect(await database.db.$count(auditLog)).toBe(3);
  });
});
