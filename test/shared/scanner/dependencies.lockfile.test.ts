/**
 * Threat: a vulnerable package installed where nobody looks (nested node_modules, an npm alias) goes
 * unreported, or a fixed one is reported and trains admins to ignore the scanner. The fixture lockfile
 * holds both, against fixture advisories with version-range edge cases.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '#shared/config/index.ts';
import {
  dependencyFindings,
  indexAdvisories,
  loadAdvisories,
  matchDependencies,
  nameFromLockPath,
  readLockfile,
} from '#shared/scanner/index.ts';

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'scanner');
const lock = () => JSON.parse(readFileSync(join(FIXTURES, 'package-lock.json'), 'utf8')) as unknown;

describe('package-lock.json', () => {
  it('lists nested installs and aliases under their registry names, and skips links and git versions', () => {
    const installed = readLockfile(lock());
    const key = (name: string, version: string) => installed.find((p) => p.name === name && p.version === version);
    expect(key('vuln-lib', '1.2.3')?.paths).toEqual(['node_modules/vuln-lib']);
    expect(key('vuln-lib', '1.2.4')?.paths).toEqual(['node_modules/other/node_modules/vuln-lib']);
    expect(key('real-lib', '2.0.0-beta.2')?.paths).toEqual(['node_modules/aliased']);
    expect(installed.find((p) => p.name === 'aliased')).toBeUndefined();
    expect(key('@scope/pkg', '3.1.1')).toBeDefined();
    expect(key('ws', '8.17.0')?.dev).toBe(true);
    expect(installed.find((p) => p.name === 'git-dep')).toBeUndefined();
    expect(installed.find((p) => p.name === 'app')?.paths).toEqual(['packages/app']);
    expect(installed.find((p) => p.name === 'scanner-fixture')).toBeUndefined();
  });

  it('reads lockfileVersion 1 nested dependencies and alias specs', () => {
    const installed = readLockfile({
      lockfileVersion: 1,
      dependencies: {
        a: { version: '1.0.0', dependencies: { b: { version: '2.0.0', dev: true } } },
        c: { version: 'npm:real-c@3.0.0' },
      },
    });
    expect(installed.map((p) => `${p.name}@${p.version}:${p.paths[0]}`)).toEqual([
      'a@1.0.0:node_modules/a',
      'b@2.0.0:node_modules/a/node_modules/b',
      'real-c@3.0.0:node_modules/c',
    ]);
  });

  it('derives names from paths, scoped ones included', () => {
    expect(nameFromLockPath('node_modules/a/node_modules/@s/b')).toBe('@s/b');
    expect(nameFromLockPath('packages/app')).toBeUndefined();
  });

  it('refuses something that is not a lockfile', () => {
    expect(() => readLockfile({ name: 'x' })).toThrow(/neither/);
    expect(() => readLockfile('x')).toThrow();
  });
});

describe('matching against advisories', () => {
  it('finds the known-vulnerable entry and misses the fixed one', async () => {
    const index = await loadAdvisories(join(FIXTURES, 'advisories'));
    expect(index.problems).toEqual([]);
    expect(index.withdrawn).toBe(1);
    const matches = matchDependencies(readLockfile(lock()), index);
    const found = matches.map((m) => `${m.package.name}@${m.package.version} ${m.advisory.id} ${m.severity}`).sort();
    expect(found).toEqual([
      '@scope/pkg@3.1.0 FIX-0003 low',
      // One finding for the GHSA and its CVE twin (aliases of each other).
      'dup-lib@1.0.0 GHSA-fixt-dupl-0001 medium',
      'listed-lib@0.9.0 FIX-0005 critical',
      'real-lib@2.0.0-beta.2 FIX-0002 high',
      'vuln-lib@1.2.3 FIX-0001 critical',
      'ws@8.17.0 GHSA-3h5v-q93c-6h6q high',
    ]);
    // Missed: vuln-lib@1.2.4 (the fix), @scope/pkg@3.1.1 (after last_affected), limited-lib@5.0.0 (at the
    // exclusive limit), withdrawn-lib (withdrawn advisory), and the PyPI package of the same name.
  });

  it('describes each finding with its ids, fix and install path, and keeps a stable fingerprint', async () => {
    const index = await loadAdvisories(join(FIXTURES, 'advisories'));
    const findings = dependencyFindings(matchDependencies(readLockfile(lock()), index));
    const vuln = findings.find((f) => f.rule === 'FIX-0001');
    expect(vuln).toMatchObject({ kind: 'dependency', severity: 'critical' });
    expect(vuln?.title).toBe('vuln-lib@1.2.3: vuln-lib lets a crafted header crash the server');
    expect(vuln?.detail).toContain('FIX-0001, CVE-2099-0001');
    expect(vuln?.detail).toContain('Fixed in 1.2.4');
    expect(vuln?.detail).toContain('node_modules/vuln-lib');
    const again = dependencyFindings(matchDependencies(readLockfile(lock()), index));
    expect(again.find((f) => f.rule === 'FIX-0001')?.fingerprint).toBe(vuln?.fingerprint);
    expect(vuln?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('skips unreadable files and names them, keeping the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsp-osv-'));
    writeFileSync(join(dir, 'broken.json'), 'not json');
    writeFileSync(join(dir, 'ok.json'), readFileSync(join(FIXTURES, 'advisories', 'FIX-0001.json')));
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const index = await loadAdvisories(dir);
    expect(index.count).toBe(1);
    expect(index.problems).toEqual([`${join(dir, 'broken.json')}: not valid JSON, skipped`]);
  });

  it('loads a single file and OSV API answers too', async () => {
    const index = await loadAdvisories(join(FIXTURES, 'advisories', 'nested', 'FIX-0004.json'));
    expect(index.count).toBe(4); // FIX-0005, both dup-lib records, FIX-0007 (withdrawn and PyPI left out)
    expect(index.byPackage.has('withdrawn-lib')).toBe(false);
    await expect(loadAdvisories(join(FIXTURES, 'nope'))).rejects.toThrow();
  });
});

describe('the shipped advisory snapshot', () => {
  it('is valid OSV for npm, dated, with a fixed version in every range', async () => {
    const index = await loadAdvisories(join(PROJECT_ROOT, 'advisories'));
    expect(index.problems).toEqual([]);
    expect(index.count).toBeGreaterThanOrEqual(10);
    expect(index.newestModified?.getUTCFullYear()).toBeGreaterThanOrEqual(2024);
    for (const advisories of index.byPackage.values()) {
      for (const advisory of advisories) {
        expect(advisory.id).toMatch(/^GHSA-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
        for (const entry of advisory.affected) {
          for (const r of entry.ranges) expect(r.events.some((e) => e.fixed !== undefined)).toBe(true);
        }
      }
    }
  });

  it('checks the project’s own lockfile', async () => {
    const index = await loadAdvisories(join(PROJECT_ROOT, 'advisories'));
    const installed = readLockfile(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package-lock.json'), 'utf8')));
    expect(installed.length).toBeGreaterThan(100);
    // Every match is a real range hit: the installed version is below the suggested fix.
    for (const match of matchDependencies(installed, index)) {
      if (match.fixedIn) expect(semver.lt(match.package.version, match.fixedIn)).toBe(true);
    }
  });

  it('indexes only npm records', () => {
    const index = indexAdvisories([
      { id: 'A', modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'Go', name: 'x' } }] },
    ]);
    expect(index.count).toBe(0);
  });
});
