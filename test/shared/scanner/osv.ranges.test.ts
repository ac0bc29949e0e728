/**
 * Threat: a wrong range evaluation either hides a vulnerable dependency (a missed fix boundary, a
 * pre-release ordered wrongly) or cries wolf on a fixed one. These cases follow the OSV specification's
 * evaluation rules and SemVer 2.0 precedence.
 */
import { describe, expect, it } from 'vitest';
import {
  advisorySeverity,
  affectsVersion,
  cvss3BaseScore,
  fixedVersionFor,
  type OsvAffected,
  type OsvEvent,
  parseOsvAdvisory,
  rangeIncludes,
} from '#shared/scanner/osv.ts';

const range = (...events: OsvEvent[]) => ({ type: 'SEMVER', events });
const entry = (ranges: OsvAffected['ranges'], versions: string[] = []): OsvAffected => ({
  package: { ecosystem: 'npm', name: 'x' },
  ranges,
  versions,
  severity: [],
  databaseSeverity: undefined,
});

describe('OSV range evaluation', () => {
  it('treats introduced "0" as the beginning and fixed as exclusive', () => {
    const r = range({ introduced: '0' }, { fixed: '1.2.4' });
    expect(rangeIncludes(r, '0.0.1')).toBe(true);
    expect(rangeIncludes(r, '1.2.3')).toBe(true);
    expect(rangeIncludes(r, '1.2.4')).toBe(false);
    expect(rangeIncludes(r, '1.3.0')).toBe(false);
  });

  it('includes the introduced version and excludes versions before it', () => {
    const r = range({ introduced: '2.1.0' }, { fixed: '2.2.0' });
    expect(rangeIncludes(r, '2.0.9')).toBe(false);
    expect(rangeIncludes(r, '2.1.0')).toBe(true);
  });

  it('treats last_affected as inclusive', () => {
    const r = range({ introduced: '3.0.0' }, { last_affected: '3.1.0' });
    expect(rangeIncludes(r, '3.1.0')).toBe(true);
    expect(rangeIncludes(r, '3.1.1')).toBe(false);
    expect(rangeIncludes(r, '3.1.1-rc.1')).toBe(false);
  });

  it('orders pre-releases before their release (SemVer 11)', () => {
    const r = range({ introduced: '0' }, { fixed: '2.0.0' });
    expect(rangeIncludes(r, '2.0.0-rc.1')).toBe(true);
    expect(rangeIncludes(r, '2.0.0')).toBe(false);
    const pre = range({ introduced: '5.0.0-alpha.1' }, { fixed: '5.0.0-beta.3' });
    expect(rangeIncludes(pre, '5.0.0-alpha.0')).toBe(false);
    expect(rangeIncludes(pre, '5.0.0-alpha.10')).toBe(true);
    expect(rangeIncludes(pre, '5.0.0-beta.2')).toBe(true);
    expect(rangeIncludes(pre, '5.0.0-beta.3')).toBe(false);
    expect(rangeIncludes(pre, '4.9.9')).toBe(false);
  });

  it('evaluates several introduced/fixed pairs in one range, whatever their order in the file', () => {
    const r = range({ fixed: '1.5.0' }, { introduced: '2.0.0' }, { introduced: '1.0.0' }, { fixed: '2.3.1' });
    expect(rangeIncludes(r, '0.9.0')).toBe(false);
    expect(rangeIncludes(r, '1.4.9')).toBe(true);
    expect(rangeIncludes(r, '1.5.0')).toBe(false);
    expect(rangeIncludes(r, '1.9.9')).toBe(false);
    expect(rangeIncludes(r, '2.3.0')).toBe(true);
    expect(rangeIncludes(r, '2.3.1')).toBe(false);
  });

  it('leaves a range with no fix open, and bounds it with limit', () => {
    expect(rangeIncludes(range({ introduced: '1.0.0' }), '99.0.0')).toBe(true);
    const limited = range({ introduced: '0' }, { limit: '5.0.0' });
    expect(rangeIncludes(limited, '4.9.9')).toBe(true);
    expect(rangeIncludes(limited, '5.0.0')).toBe(false);
  });

  it('refuses to guess on versions that are not SemVer', () => {
    expect(rangeIncludes(range({ introduced: 'abc123' }), '1.0.0')).toBeUndefined();
  });

  it('matches any of several ranges of an entry, and exact versions lists', () => {
    const e = entry([
      range({ introduced: '6.0.0' }, { fixed: '6.3.1' }),
      range({ introduced: '7.0.0' }, { fixed: '7.5.2' }),
    ]);
    expect(affectsVersion(e, '6.2.0')).toBe(true);
    expect(affectsVersion(e, '6.3.1')).toBe(false);
    expect(affectsVersion(e, '7.5.1')).toBe(true);
    expect(affectsVersion(e, '7.5.2')).toBe(false);
    expect(affectsVersion(entry([], ['0.9.0']), '0.9.0')).toBe(true);
    expect(affectsVersion(entry([], ['0.9.0']), '0.9.1')).toBe(false);
    // Build metadata does not change precedence.
    expect(affectsVersion(e, '6.2.0+build.7')).toBe(true);
  });

  it('ignores GIT ranges for registry versions', () => {
    expect(affectsVersion(entry([{ type: 'GIT', events: [{ introduced: '0' }] }]), '1.0.0')).toBe(false);
  });

  it('suggests the lowest fix above the installed version', () => {
    const entries = [
      entry([range({ introduced: '0' }, { fixed: '5.2.4' })]),
      entry([range({ introduced: '8.0.0' }, { fixed: '8.17.1' })]),
    ];
    expect(fixedVersionFor(entries, '8.17.0')).toBe('8.17.1');
    expect(fixedVersionFor(entries, '5.0.0')).toBe('5.2.4');
  });
});

/** Parses a record the test knows is valid. */
function parsed(value: unknown) {
  const advisory = parseOsvAdvisory(value);
  if (!advisory) throw new Error('fixture is not an OSV record');
  return advisory;
}

describe('CVSS and severity', () => {
  it('computes CVSS v3.1 base scores like FIRST’s calculator', () => {
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toBe(9.8);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H')).toBe(10);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H')).toBe(7.5);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N')).toBe(6.1);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:L')).toBe(5);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L')).toBe(5.3);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N')).toBe(0);
    expect(cvss3BaseScore('CVSS:3.1/AV:X/AC:L')).toBeUndefined();
  });

  it('prefers the database’s rating, then the CVSS score', () => {
    const base = { id: 'A', modified: '2026-01-01T00:00:00Z', affected: [] };
    expect(advisorySeverity(parsed({ ...base, database_specific: { severity: 'MODERATE' } }))).toBe('medium');
    expect(
      advisorySeverity(
        parsed({
          ...base,
          severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
        }),
      ),
    ).toBe('critical');
    expect(
      advisorySeverity(
        parsed({
          ...base,
          severity: [{ type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N' }],
        }),
      ),
    ).toBe('high');
    expect(advisorySeverity(parsed(base))).toBe('medium');
  });

  it('rejects records that are not OSV', () => {
    expect(parseOsvAdvisory({ summary: 'no id' })).toBeNull();
    expect(parseOsvAdvisory('GHSA-x')).toBeNull();
    expect(parseOsvAdvisory([])).toBeNull();
  });
});
