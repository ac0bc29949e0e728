/**
 * Threat: decrypted exports left in the data folder (and so in every backup of it) outlive the person's
 * erasure. Export files are removed once they are older than a day; fresh ones stay for their download.
 */
import { mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXPORT_FILE_TTL_MS, removeExpiredExportFiles } from '#shared/privacy/export.ts';

describe('export files', () => {
  it('are removed once older than a day, and kept while fresh', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsp-exports-'));
    const now = Date.now();
    for (const name of ['old.json', 'old.html', 'new.json', 'new.html']) writeFileSync(join(dir, name), '{}');
    const old = new Date(now - EXPORT_FILE_TTL_MS - 60_000);
    utimesSync(join(dir, 'old.json'), old, old);
    utimesSync(join(dir, 'old.html'), old, old);
    expect(await removeExpiredExportFiles(dir, EXPORT_FILE_TTL_MS, now)).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(['new.html', 'new.json']);
  });

  it('does nothing when no export was ever made', async () => {
    expect(await removeExpiredExportFiles(join(tmpdir(), 'tsp-no-such-folder-x'))).toBe(0);
  });
});
