/**
 * Advisory data in OSV JSON, read from a directory (searched recursively, e.g. OSV's npm `all.zip` unpacked)
 * or a single file (one record, an array of records, or an OSV API answer `{ "vulns": [...] }`), indexed by
 * npm package name. Nothing is fetched from the network.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isNpmEcosystem, type OsvAdvisory, parseOsvAdvisory } from './osv.ts';

/** Largest advisory file read (OSV records are a few KB; all.zip's largest are well under this). */
export const ADVISORY_FILE_MAX_BYTES = 5 * 1024 * 1024;

export interface AdvisoryIndex {
  /** npm package name → advisories naming it (withdrawn ones excluded). */
  byPackage: ReadonlyMap<string, readonly OsvAdvisory[]>;
  /** Records loaded (npm, not withdrawn). */
  count: number;
  /** Withdrawn records skipped. */
  withdrawn: number;
  /** Files or records that could not be read, with the reason (no contents). */
  problems: string[];
  /** The newest `modified` date in the data: how current the snapshot is. */
  newestModified: Date | undefined;
}

/** Builds the index from parsed records (withdrawn and non-npm records left out). */
export function indexAdvisories(records: readonly unknown[]): AdvisoryIndex {
  const byPackage = new Map<string, OsvAdvisory[]>();
  const seen = new Set<string>();
  const problems: string[] = [];
  let count = 0;
  let withdrawn = 0;
  let newest: number | undefined;
  for (const record of records) {
    const advisory = parseOsvAdvisory(record);
    if (!advisory) {
      problems.push('a record without "id" or "modified" was skipped');
      continue;
    }
    // The same record twice (a directory holding both a copy and all.zip's file) counts once.
    if (seen.has(advisory.id)) continue;
    seen.add(advisory.id);
    if (advisory.withdrawn !== undefined) {
      withdrawn++;
      continue;
    }
    const names = new Set(
      advisory.affected.filter((entry) => isNpmEcosystem(entry.package.ecosystem)).map((entry) => entry.package.name),
    );
    if (names.size === 0) continue;
    count++;
    const modified = Date.parse(advisory.modified);
    if (!Number.isNaN(modified) && (newest === undefined || modified > newest)) newest = modified;
    for (const name of names) {
      const list = byPackage.get(name) ?? [];
      list.push(advisory);
      byPackage.set(name, list);
    }
  }
  return {
    byPackage,
    count,
    withdrawn,
    problems,
    newestModified: newest === undefined ? undefined : new Date(newest),
  };
}

function recordsOf(json: unknown): unknown[] {
  if (Array.isArray(json)) return json;
  if (typeof json === 'object' && json !== null && Array.isArray((json as { vulns?: unknown }).vulns)) {
    return (json as { vulns: unknown[] }).vulns;
  }
  return [json];
}

async function jsonFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/**
 * Loads the advisory data at `path` (a directory or a .json file).
 * @throws Error when the path does not exist or holds no JSON at all.
 */
export async function loadAdvisories(path: string): Promise<AdvisoryIndex> {
  const info = await stat(path);
  const files = info.isDirectory() ? await jsonFilesUnder(path) : [path];
  if (files.length === 0) throw new Error(`No advisory files (*.json) under ${path}`);
  const records: unknown[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const size = (await stat(file)).size;
    if (size > ADVISORY_FILE_MAX_BYTES) {
      problems.push(`${file}: larger than ${ADVISORY_FILE_MAX_BYTES} bytes, skipped`);
      continue;
    }
    try {
      records.push(...recordsOf(JSON.parse(await readFile(file, 'utf8'))));
    } catch {
      problems.push(`${file}: not valid JSON, skipped`);
    }
  }
  const index = indexAdvisories(records);
  return { ...index, problems: [...problems, ...index.problems] };
}
