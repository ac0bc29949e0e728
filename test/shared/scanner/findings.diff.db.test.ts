/**
 * Threat: an alert storm (the same finding reported as new every day) or silence (a finding that came back
 * after a fix is not flagged again). Findings keep their identity across scans by fingerprint: first seen
 * stays, last seen moves, absent ones resolve, returning ones reopen as new.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mfaFactors, scanRuns, users } from '#shared/db/schema.ts';
import {
  completeScanRun,
  countOpenFindings,
  type Finding,
  failScanRun,
  finding,
  latestScanReport,
  openFindingCounts,
  readAdminMfa,
  readRingKeys,
  startScanRun,
} from '#shared/scanner/index.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.close();
});
beforeEach(async () => {
  await database.truncate();
});

const STATS = { packagesChecked: 10, advisoriesLoaded: 5, advisoriesUpdatedAt: new Date('2026-11-01T00:00:00Z') };
const day = (n: number) => new Date(Date.UTC(2026, 10, n, 4));
const A = finding('dependency', 'FIX-1', 'FIX-1|a|1.0.0', 'critical', 'a@1.0.0: bad', 'Fixed in 1.0.1.');
const B = finding('config', 'config.cors_wildcard', 'cors_wildcard', 'high', 'CORS allows any origin', 'List origins.');
const C = finding('http', 'http.header_missing', '/healthz|x|missing', 'low', '/healthz lacks x', 'Add it.');

async function scan(findings: Finding[], at: Date) {
  const id = await startScanRun(database.db, 'schedule', at);
  return completeScanRun(database.db, id, findings, STATS, at);
}

describe('scan diffing', () => {
  it('marks first sightings new, keeps first seen, resolves absent findings and reopens returning ones', async () => {
    const first = await scan([A, B, C], day(1));
    expect(first.opened.map((row) => row.rule).sort()).toEqual([
      'FIX-1',
      'config.cors_wildcard',
      'http.header_missing',
    ]);
    expect(first.counts).toEqual({ critical: 1, high: 1, medium: 0, low: 1 });

    const second = await scan([A, B], day(2));
    expect(second.opened).toEqual([]);
    expect(second.resolved).toBe(1);
    let report = await latestScanReport(database.db);
    expect(report?.id).toBe(second.scanId);
    expect(report?.findings.map((f) => [f.rule, f.new])).toEqual([
      ['FIX-1', false],
      ['config.cors_wildcard', false],
    ]);
    expect(report?.findings[0]?.firstSeenAt).toEqual(day(1));
    expect(report?.findings[0]?.lastSeenAt).toEqual(day(2));
    expect(report).toMatchObject({ newCount: 0, resolvedCount: 1, packagesChecked: 10, advisoriesLoaded: 5 });

    const third = await scan([A, B, C], day(3));
    expect(third.opened.map((row) => row.rule)).toEqual(['http.header_missing']);
    report = await latestScanReport(database.db);
    const reopened = report?.findings.find((f) => f.rule === 'http.header_missing');
    expect(reopened).toMatchObject({ new: true, firstSeenAt: day(1), lastSeenAt: day(3) });
  });

  it('counts a fingerprint once per scan at its highest severity, and takes updated wording', async () => {
    const lower = { ...A, severity: 'medium' as const };
    const result = await scan([lower, A], day(1));
    expect(result.counts.critical).toBe(1);
    expect(result.opened).toHaveLength(1);
    await scan([{ ...A, detail: 'Fixed in 1.0.2.' }], day(2));
    expect((await latestScanReport(database.db))?.findings[0]?.detail).toBe('Fixed in 1.0.2.');
  });

  it('resolves everything when a scan finds nothing, and counts open findings for the KPI', async () => {
    await scan([A, B, C], day(1));
    expect(await countOpenFindings(database.db, ['critical', 'high'])).toBe(2);
    expect(await countOpenFindings(database.db)).toBe(3);
    expect(await openFindingCounts(database.db)).toHaveLength(3);
    const clean = await scan([], day(2));
    expect(clean.resolved).toBe(3);
    expect(await countOpenFindings(database.db, ['critical', 'high'])).toBe(0);
    expect((await latestScanReport(database.db))?.findings).toEqual([]);
  });

  it('reports only completed scans; a failed one keeps its code', async () => {
    expect(await latestScanReport(database.db)).toBeNull();
    const id = await startScanRun(database.db, 'api', day(1));
    await failScanRun(database.db, id, 'SCAN_FAILED', day(1));
    expect(await latestScanReport(database.db)).toBeNull();
    const [row] = await database.db.select().from(scanRuns);
    expect(row).toMatchObject({ status: 'failed', errorCode: 'SCAN_FAILED' });
  });

  it('the database refuses malformed findings (defence in depth)', async () => {
    const id = await startScanRun(database.db, 'api', day(1));
    await expect(completeScanRun(database.db, id, [{ ...A, fingerprint: 'not-hex' }], STATS, day(1))).rejects.toThrow();
  });
});

describe('facts from the database', () => {
  it('counts active admins without an active second factor', async () => {
    const [admin1, admin2] = await database.db
      .insert(users)
      .values([
        // Rows as people have them (a blind index of their Telegram id); the scanner reads roles only.
        { telegramIdHash: randomBytes(32).toString('hex'), role: 'admin' },
        { telegramIdHash: randomBytes(32).toString('hex'), role: 'admin' },
        { telegramIdHash: randomBytes(32).toString('hex'), role: 'admin', status: 'blocked' },
        { telegramIdHash: randomBytes(32).toString('hex'), role: 'user' },
      ])
      .returning();
    if (!admin1 || !admin2) throw new Error('insert returned no rows');
    expect(await readAdminMfa(database.db)).toEqual({ admins: 2, withoutMfa: 2 });
    await database.db.insert(mfaFactors).values([
      { userId: admin1.id, status: 'active', secret: randomBytes(40) },
      { userId: admin2.id, status: 'pending', secret: randomBytes(40) },
    ]);
    expect(await readAdminMfa(database.db)).toEqual({ admins: 2, withoutMfa: 1 });
  });

  it('reads the key ring’s dates without key material', async () => {
    const { loadKeyRing } = await import('#shared/crypto/key-ring.ts');
    await loadKeyRing(database.db, randomBytes(32));
    const keys = await readRingKeys(database.db);
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0] ?? {}).sort()).toEqual(['createdAt', 'id', 'promotedAt', 'status']);
  });
});
