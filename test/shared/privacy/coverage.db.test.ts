/**
 * Export and erasure must cover every table: personal data the map forgets is data a person never sees in their
 * export and never gets erased. One person is seeded with a row in every table of the live schema; the export
 * must show every personal column, and after erasure neither the live tables nor a dump taken before erasure
 * may yield their personal data (sealed values no longer open once the key is destroyed). The Telegram id is
 * never in any dump at all: only its keyed blind index and a copy sealed with the person's key are stored.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditLog, deriveAuditSigningKey, verifyAuditLog } from '#shared/audit/index.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import { dataMap, subjectTables } from '#shared/privacy/data-map.ts';
import { runErasure } from '#shared/privacy/erasure.ts';
import { exportSubject } from '#shared/privacy/export.ts';
import { createRequest } from '#shared/privacy/requests.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';
import { dumpAsText, liveColumns, type SeedContext, seedEverything } from './seed.ts';

const controller = {
  name: 'Example Ltd',
  contact: 'privacy@example.com',
  dpo: undefined,
  jurisdiction: 'EU',
  policyUrl: undefined,
};
let database: TestDatabase;
let keystore: TestDatabase;
let userKeys: UserKeys;
let ctx: SeedContext;
const masterKey = randomBytes(32);
const exportDir = mkdtempSync(join(tmpdir(), 'tsp-export-'));

beforeAll(async () => {
  database = await createTestDatabase();
  keystore = await createTestKeystore();
  const ring = await loadKeyRing(database.db, masterKey);
  userKeys = createUserKeys({ keystore: keystore.db, ring });
  const audit = createAuditLog({ db: database.db, cipher: userKeys });
  ctx = await seedEverything({ db: database.db, userKeys, audit, masterKey, telegramId: 777_000_123 });
}, 180_000);
afterAll(async () => {
  await database?.close();
  await keystore?.close();
});

describe('privacy coverage', () => {
  it('seeds a row in every table of the live schema', async () => {
    const live = await liveColumns(database.db);
    for (const table of live.keys()) {
      const result = await database.db.execute(sql.raw(`select count(*)::int as n from "${table}"`));
      expect((result as unknown as { rows: { n: number }[] }).rows[0]?.n, table).toBeGreaterThan(0);
    }
  });

  it('exports every personal column of every table holding the person’s rows', async () => {
    const result = await exportSubject(
      { db: database.db, cipher: userKeys, controller, dir: exportDir },
      { userId: ctx.userId, fileId: 'coverage' },
    );
    const exported = JSON.parse(readFileSync(result.jsonPath, 'utf8')) as {
      facts: { purposes: unknown[]; recipients: unknown[]; retention: unknown[]; rights: unknown[]; source: string };
      data: Record<string, Record<string, unknown>[]>;
    };
    expect(exported.facts.purposes.length).toBeGreaterThan(0);
    expect(exported.facts.rights.length).toBeGreaterThan(0);
    expect(exported.facts.source).toMatch(/Telegram/);
    let checked = 0;
    for (const [table, spec] of subjectTables()) {
      const rows = exported.data[table];
      expect(rows, `table ${table} missing from the export`).toBeDefined();
      expect(rows?.length, `no rows of ${table} exported`).toBeGreaterThan(0);
      const row = rows?.[0] ?? {};
      for (const [column, columnSpec] of Object.entries(spec.columns)) {
        if (!columnSpec.personal || columnSpec.export === 'omitted') {
          expect(row, `${table}.${column} must not be exported`).not.toHaveProperty(column);
          continue;
        }
        const stored = ctx.stored[table] ?? {};
        expect(row, `${table}.${column} missing from the export`).toHaveProperty(column);
        if (stored[column] !== null) expect(row[column], `${table}.${column} empty in the export`).not.toBeNull();
        if (columnSpec.export === 'redacted') expect(row[column]).toBe('[redacted]');
        else if (columnSpec.export === 'decrypted') {
          const plain = table === 'audit_log' ? stored.details : stored[`${column}:plain`];
          expect(row[column], `${table}.${column} not decrypted`).toEqual(plain);
        } else if (typeof stored[column] === 'string') expect(row[column]).toBe(stored[column]);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(20);
    const html = readFileSync(result.htmlPath, 'utf8');
    expect(html).toContain('Your rights');
    expect(html).not.toMatch(/<script/i);
  });

  it('after erasure no table and no earlier dump yields the person’s personal data', async () => {
    const dumpBefore = await dumpAsText(database.db);
    // Plaintext personal values the map promises to erase (not the ones it declares as kept, e.g. the audit trail).
    const erasable: string[] = [];
    const sealedPlain: string[] = [];
    for (const [table, spec] of Object.entries(dataMap)) {
      const stored = ctx.stored[table] ?? {};
      for (const [column, columnSpec] of Object.entries(spec.columns)) {
        if (!columnSpec.personal || columnSpec.erasure === 'keep') continue;
        const plain = stored[`${column}:plain`];
        if (typeof plain === 'string') sealedPlain.push(plain);
        const value = stored[column];
        if (typeof value === 'string' && value.startsWith('pii-')) erasable.push(value);
      }
    }
    const auditNote = (ctx.stored.audit_log?.details as { note: string } | undefined)?.note;
    expect(auditNote).toBeDefined();
    sealedPlain.push(auditNote ?? '');
    expect(erasable.length).toBeGreaterThan(2);
    expect(sealedPlain.length).toBeGreaterThan(1);
    // Sealed values never appear in clear, even before erasure.
    for (const plain of sealedPlain) expect(dumpBefore).not.toContain(plain.replace(/"/g, ''));
    // Nor does the Telegram id, in any table: a blind index finds the person, a sealed copy says who they are.
    expect(dumpBefore).not.toContain(String(ctx.telegramId));
    const [identity] = (
      (await database.db.execute(
        sql`select telegram_id, telegram_id_hash, telegram_id_sealed from users where id = ${ctx.userId}`,
      )) as unknown as { rows: { telegram_id: unknown; telegram_id_hash: string; telegram_id_sealed: Uint8Array }[] }
    ).rows;
    expect(identity?.telegram_id).toBeNull();
    expect(identity?.telegram_id_hash).toMatch(/^[0-9a-f]{64}$/);
    const sealedId = Buffer.from(identity?.telegram_id_sealed ?? new Uint8Array());
    const idContext = { table: 'users', column: 'telegram_id_sealed', rowId: ctx.userId };
    expect((await userKeys.openForUser(ctx.userId, sealedId, idContext))?.toString()).toBe(String(ctx.telegramId));

    const request = await createRequest(database.db, {
      userId: ctx.userId,
      kind: 'erasure',
      status: 'scheduled',
      effectiveAt: new Date(Date.now() - 1000),
    });
    const outcome = await runErasure({ db: database.db, userKeys, exportDir }, request.id);
    expect(outcome.status).toBe('completed');

    const dumpAfter = await dumpAsText(database.db);
    for (const value of erasable) expect(dumpAfter, value).not.toContain(value);
    expect(dumpAfter).not.toContain(String(ctx.telegramId));
    expect(dumpAfter).not.toContain(identity?.telegram_id_hash);
    expect(dumpAfter).not.toContain('pt-br');
    // The key is gone: every value sealed for the person in the earlier dump is now unreadable, the Telegram id too.
    expect(await userKeys.isShredded(ctx.userId)).toBe(true);
    expect(await userKeys.openForUser(ctx.userId, sealedId, idContext)).toBeNull();
    const sealed = await database.db.execute(
      sql`select id::text as id, details from audit_log where subject_user_id = ${ctx.userId} and details is not null`,
    );
    const rows = (sealed as unknown as { rows: { id: string; details: Uint8Array }[] }).rows;
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(
        await userKeys.openForUser(ctx.userId, Buffer.from(row.details), {
          table: 'audit_log',
          column: 'details',
          rowId: row.id,
        }),
      ).toBeNull();
    }
    // The audit trail is intact: erasure never rewrites it.
    const verification = await verifyAuditLog(database.db, {
      publicKeys: [deriveAuditSigningKey(masterKey).publicKey],
    });
    expect(verification.ok).toBe(true);
  });
});
