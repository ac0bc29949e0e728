/**
 * OSV advisories (https://ossf.github.io/osv-schema/): parsing untrusted JSON into a narrow shape, deciding
 * whether an npm version is affected (SEMVER/ECOSYSTEM ranges and `versions` lists), and mapping the
 * advisory's severity to ours.
 */
import semver from 'semver';

export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Higher is worse; for sorting. */
export const SEVERITY_RANK: Record<Severity, number> = { critical: 4, high: 3, medium: 2, low: 1 };

export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvRange {
  type: string;
  events: OsvEvent[];
}

export interface OsvAffected {
  package: { ecosystem: string; name: string };
  ranges: OsvRange[];
  versions: string[];
  /** Per-package severity (OSV allows it here as well as at the top). */
  severity: { type: string; score: string }[];
  databaseSeverity: string | undefined;
}

export interface OsvAdvisory {
  id: string;
  modified: string;
  published: string | undefined;
  withdrawn: string | undefined;
  aliases: string[];
  summary: string;
  severity: { type: string; score: string }[];
  affected: OsvAffected[];
  /** `database_specific.severity` (GitHub: CRITICAL, HIGH, MODERATE, LOW). */
  databaseSeverity: string | undefined;
  url: string | undefined;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
const severities = (value: unknown) =>
  Array.isArray(value)
    ? value.flatMap((item) =>
        isRecord(item) && typeof item.type === 'string' && typeof item.score === 'string'
          ? [{ type: item.type, score: item.score }]
          : [],
      )
    : [];

/**
 * Narrows one OSV record from untrusted JSON. Returns null when it is not an OSV record (no id or no
 * `modified`); unknown fields are ignored, malformed parts dropped.
 */
export function parseOsvAdvisory(value: unknown): OsvAdvisory | null {
  if (!isRecord(value)) return null;
  const id = str(value.id);
  const modified = str(value.modified);
  if (!id || !modified) return null;
  const affected: OsvAffected[] = [];
  for (const item of Array.isArray(value.affected) ? value.affected : []) {
    if (!isRecord(item) || !isRecord(item.package)) continue;
    const ecosystem = str(item.package.ecosystem);
    const name = str(item.package.name);
    if (!ecosystem || !name) continue;
    const ranges: OsvRange[] = [];
    for (const range of Array.isArray(item.ranges) ? item.ranges : []) {
      if (!isRecord(range) || typeof range.type !== 'string' || !Array.isArray(range.events)) continue;
      const events: OsvEvent[] = [];
      for (const event of range.events) {
        if (!isRecord(event)) continue;
        const parsed: OsvEvent = {};
        for (const key of ['introduced', 'fixed', 'last_affected', 'limit'] as const) {
          const version = str(event[key]);
          if (version !== undefined) parsed[key] = version;
        }
        if (Object.keys(parsed).length === 1) events.push(parsed);
      }
      ranges.push({ type: range.type, events });
    }
    affected.push({
      package: { ecosystem, name },
      ranges,
      versions: strings(item.versions),
      severity: severities(item.severity),
      databaseSeverity: isRecord(item.database_specific) ? str(item.database_specific.severity) : undefined,
    });
  }
  const references = Array.isArray(value.references) ? value.references.filter(isRecord) : [];
  const advisoryRef = references.find((ref) => ref.type === 'ADVISORY') ?? references[0];
  return {
    id,
    modified,
    published: str(value.published),
    withdrawn: str(value.withdrawn),
    aliases: strings(value.aliases),
    summary: (str(value.summary) ?? str(value.details) ?? id).split('\n')[0]?.trim().slice(0, 200) ?? id,
    severity: severities(value.severity),
    affected,
    databaseSeverity: isRecord(value.database_specific) ? str(value.database_specific.severity) : undefined,
    url: advisoryRef ? str(advisoryRef.url) : undefined,
  };
}

/** True for an npm package name in any case npm ever allowed (OSV names npm packages exactly). */
export function isNpmEcosystem(ecosystem: string): boolean {
  // OSV ecosystems may carry a suffix after ':' (e.g. "Debian:12"); npm has none, but be tolerant.
  return ecosystem.split(':')[0]?.toLowerCase() === 'npm';
}

/** Orders OSV range versions: "0" (the beginning of time) first, then SemVer 2.0 precedence. */
function compareEventVersions(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '0') return -1;
  if (b === '0') return 1;
  return semver.compare(a, b);
}

const eventVersion = (event: OsvEvent): string =>
  event.introduced ?? event.fixed ?? event.last_affected ?? event.limit ?? '0';

/**
 * Whether `version` falls in one SEMVER/ECOSYSTEM range, following the OSV specification's evaluation:
 * events sorted by version; `introduced` opens (inclusive, "0" = from the start), `fixed` closes (the fixed
 * version is not affected), `last_affected` closes after that version (it is affected), `limit` bounds the
 * whole range (exclusive). Pre-releases order by SemVer (1.0.0-beta < 1.0.0).
 * Returns undefined when the range cannot be evaluated (an event version that is not SemVer).
 */
export function rangeIncludes(range: OsvRange, version: string): boolean | undefined {
  const events = range.events;
  for (const event of events) {
    const value = eventVersion(event);
    if (value !== '0' && value !== '*' && !semver.valid(value)) return undefined;
  }
  const limits = events.flatMap((event) => (event.limit !== undefined ? [event.limit] : []));
  // "*" is the spec's "no limit"; otherwise the version must be below at least one limit.
  if (limits.length > 0 && !limits.some((limit) => limit === '*' || semver.lt(version, limit))) return false;
  const sorted = events
    .filter((event) => event.limit === undefined)
    .sort((a, b) => compareEventVersions(eventVersion(a), eventVersion(b)));
  let affected = false;
  for (const event of sorted) {
    if (event.introduced !== undefined) {
      if (event.introduced === '0' || semver.gte(version, event.introduced)) affected = true;
    } else if (event.fixed !== undefined) {
      if (semver.gte(version, event.fixed)) affected = false;
    } else if (event.last_affected !== undefined) {
      if (semver.gt(version, event.last_affected)) affected = false;
    }
  }
  return affected;
}

/**
 * Whether an npm `version` is affected by one `affected[]` entry: listed in `versions`, or inside any
 * SEMVER/ECOSYSTEM range (GIT ranges name commits and cannot apply to a published version).
 */
export function affectsVersion(entry: OsvAffected, version: string): boolean {
  const parsed = semver.parse(version);
  if (!parsed) return entry.versions.includes(version);
  // Build metadata does not change precedence; compare on the normalised version.
  if (entry.versions.some((listed) => listed === version || semver.valid(listed) === parsed.version)) return true;
  for (const range of entry.ranges) {
    if (range.type !== 'SEMVER' && range.type !== 'ECOSYSTEM') continue;
    if (rangeIncludes(range, parsed.version) === true) return true;
  }
  return false;
}

/** The lowest `fixed` version above `version` across the entries' ranges (the upgrade to suggest). */
export function fixedVersionFor(entries: readonly OsvAffected[], version: string): string | undefined {
  const candidates: string[] = [];
  for (const entry of entries) {
    for (const range of entry.ranges) {
      for (const event of range.events) {
        if (event.fixed && semver.valid(event.fixed) && semver.valid(version) && semver.gt(event.fixed, version)) {
          candidates.push(event.fixed);
        }
      }
    }
  }
  return candidates.sort(semver.compare)[0];
}

const CVSS3_WEIGHTS = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;

/** CVSS v3.1's Roundup (specification appendix A): the smallest one-decimal number ≥ the input. */
function roundUp(value: number): number {
  const integer = Math.round(value * 100_000);
  return integer % 10_000 === 0 ? integer / 100_000 : (Math.floor(integer / 10_000) + 1) / 10;
}

function vectorMetrics(vector: string): Map<string, string> {
  const metrics = new Map<string, string>();
  for (const part of vector.split('/').slice(1)) {
    const [key, value] = part.split(':');
    if (key && value) metrics.set(key, value);
  }
  return metrics;
}

/**
 * The CVSS v3.0/v3.1 base score of a vector string (FIRST's specification, section 7.1).
 * Returns undefined for a malformed vector.
 * @example cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H') // 9.8
 */
export function cvss3BaseScore(vector: string): number | undefined {
  if (!/^CVSS:3\.[01]\//.test(vector)) return undefined;
  const m = vectorMetrics(vector);
  const pick = (table: Readonly<Record<string, number>>, key: string): number | undefined => {
    const value = m.get(key);
    return value !== undefined && Object.hasOwn(table, value) ? table[value] : undefined;
  };
  const scope = m.get('S');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const changed = scope === 'C';
  const av = pick(CVSS3_WEIGHTS.AV, 'AV');
  const ac = pick(CVSS3_WEIGHTS.AC, 'AC');
  const ui = pick(CVSS3_WEIGHTS.UI, 'UI');
  const pr = pick(changed ? { N: 0.85, L: 0.68, H: 0.5 } : { N: 0.85, L: 0.62, H: 0.27 }, 'PR');
  const c = pick(CVSS3_WEIGHTS.CIA, 'C');
  const i = pick(CVSS3_WEIGHTS.CIA, 'I');
  const a = pick(CVSS3_WEIGHTS.CIA, 'A');
  if ([av, ac, ui, pr, c, i, a].some((weight) => weight === undefined)) return undefined;
  const iss = 1 - (1 - (c as number)) * (1 - (i as number)) * (1 - (a as number));
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  const exploitability = 8.22 * (av as number) * (ac as number) * (pr as number) * (ui as number);
  if (impact <= 0) return 0;
  return changed
    ? roundUp(Math.min(1.08 * (impact + exploitability), 10))
    : roundUp(Math.min(impact + exploitability, 10));
}

/**
 * An approximate score for a CVSS v4.0 vector: its exact score needs FIRST's MacroVector lookup table, so the
 * vulnerable-system metrics are scored with the v3.1 formula (subsequent-system impact counted as a scope
 * change). Used only when an advisory gives no GitHub severity and no v3 vector.
 */
export function cvss4ApproximateScore(vector: string): number | undefined {
  if (!vector.startsWith('CVSS:4.0/')) return undefined;
  const m = vectorMetrics(vector);
  const subsequent = ['SC', 'SI', 'SA'].some((key) => m.get(key) === 'H' || m.get(key) === 'L');
  const ui = m.get('UI') === 'N' ? 'N' : 'R';
  const ac = m.get('AC') === 'H' || m.get('AT') === 'P' ? 'H' : 'L';
  const v3 = `CVSS:3.1/AV:${m.get('AV')}/AC:${ac}/PR:${m.get('PR')}/UI:${ui}/S:${subsequent ? 'C' : 'U'}/C:${m.get('VC')}/I:${m.get('VI')}/A:${m.get('VA')}`;
  return cvss3BaseScore(v3);
}

/** CVSS qualitative rating (v3.1 table 14), "None" counted as low. */
export function severityOfScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  return 'low';
}

function severityOfLabel(label: string | undefined): Severity | undefined {
  switch (label?.toUpperCase()) {
    case 'CRITICAL':
      return 'critical';
    case 'HIGH':
      return 'high';
    case 'MODERATE':
    case 'MEDIUM':
      return 'medium';
    case 'LOW':
      return 'low';
    default:
      return undefined;
  }
}

/**
 * The advisory's severity for one package: the database's own rating (GitHub's reviewed severity) first,
 * then the highest CVSS v3 score, then an approximate CVSS v4 score; medium when the advisory gives none.
 */
export function advisorySeverity(advisory: OsvAdvisory, entries: readonly OsvAffected[] = []): Severity {
  const labelled =
    severityOfLabel(advisory.databaseSeverity) ??
    entries.map((entry) => severityOfLabel(entry.databaseSeverity)).find(Boolean);
  if (labelled) return labelled;
  const vectors = [...advisory.severity, ...entries.flatMap((entry) => entry.severity)];
  const v3 = vectors.flatMap((s) => (s.type === 'CVSS_V3' ? [cvss3BaseScore(s.score)] : []));
  const v3Scores = v3.filter((score): score is number => score !== undefined);
  if (v3Scores.length > 0) return severityOfScore(Math.max(...v3Scores));
  const v4 = vectors.flatMap((s) => (s.type === 'CVSS_V4' ? [cvss4ApproximateScore(s.score)] : []));
  const v4Scores = v4.filter((score): score is number => score !== undefined);
  if (v4Scores.length > 0) return severityOfScore(Math.max(...v4Scores));
  return 'medium';
}
