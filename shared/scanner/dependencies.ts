/**
 * Dependency check: every installed package and version (package-lock.json) against the advisory index.
 */
import type { AdvisoryIndex } from './advisories.ts';
import { type Finding, finding } from './finding.ts';
import type { InstalledPackage } from './lockfile.ts';
import {
  advisorySeverity,
  affectsVersion,
  fixedVersionFor,
  isNpmEcosystem,
  type OsvAdvisory,
  type Severity,
} from './osv.ts';

export interface DependencyMatch {
  package: InstalledPackage;
  advisory: OsvAdvisory;
  severity: Severity;
  /** The lowest fixed version above the installed one, when the advisory names one. */
  fixedIn: string | undefined;
}

/** Paths shown per finding (a package can be installed in many places). */
const PATHS_SHOWN = 3;

/**
 * Every advisory affecting an installed package. An advisory and its aliases (the same vulnerability under
 * a GHSA and a CVE id, both in the data) count once per package.
 */
export function matchDependencies(installed: readonly InstalledPackage[], index: AdvisoryIndex): DependencyMatch[] {
  const matches: DependencyMatch[] = [];
  for (const pkg of installed) {
    const advisories = index.byPackage.get(pkg.name);
    if (!advisories) continue;
    const seenIds = new Set<string>();
    for (const advisory of advisories) {
      if ([advisory.id, ...advisory.aliases].some((id) => seenIds.has(id))) continue;
      const entries = advisory.affected.filter(
        (entry) => isNpmEcosystem(entry.package.ecosystem) && entry.package.name === pkg.name,
      );
      if (!entries.some((entry) => affectsVersion(entry, pkg.version))) continue;
      for (const id of [advisory.id, ...advisory.aliases]) seenIds.add(id);
      matches.push({
        package: pkg,
        advisory,
        severity: advisorySeverity(advisory, entries),
        fixedIn: fixedVersionFor(entries, pkg.version),
      });
    }
  }
  return matches;
}

/** One finding per package version and advisory. */
export function dependencyFindings(matches: readonly DependencyMatch[]): Finding[] {
  return matches.map(({ package: pkg, advisory, severity, fixedIn }) => {
    const ids = [advisory.id, ...advisory.aliases].join(', ');
    const paths = pkg.paths.slice(0, PATHS_SHOWN).join(', ') + (pkg.paths.length > PATHS_SHOWN ? ', …' : '');
    const detail = [
      `${ids}.`,
      fixedIn ? `Fixed in ${fixedIn}: upgrade ${pkg.name}.` : 'No fixed version is known.',
      `${pkg.dev ? 'Development dependency' : 'Installed'} at ${paths}.`,
      advisory.url ? `More: ${advisory.url}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    return finding(
      'dependency',
      advisory.id,
      `${advisory.id}|${pkg.name}|${pkg.version}`,
      severity,
      `${pkg.name}@${pkg.version}: ${advisory.summary}`,
      detail,
    );
  });
}
