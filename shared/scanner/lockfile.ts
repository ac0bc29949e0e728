/**
 * What is installed, from package-lock.json: every package and version, with the paths it is installed at.
 * Reads lockfileVersion 2/3 (`packages`, including nested node_modules and npm aliases) and version 1
 * (`dependencies`, nested).
 */
import semver from 'semver';

export interface InstalledPackage {
  /** The registry name (for an alias `"x": "npm:real@1.0.0"`, the real package's name). */
  name: string;
  version: string;
  /** Where it is installed (`node_modules/a/node_modules/b`), sorted. */
  paths: string[];
  /** True when every copy is a development dependency. */
  dev: boolean;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `node_modules/a/node_modules/@s/b` → `@s/b`; undefined for paths outside node_modules (workspaces). */
export function nameFromLockPath(path: string): string | undefined {
  const marker = 'node_modules/';
  const at = path.lastIndexOf(marker);
  if (at === -1) return undefined;
  const name = path.slice(at + marker.length);
  return name.length > 0 ? name : undefined;
}

/** `npm:real-name@1.2.3` (an alias spec in a v1 lockfile) → { name, version }. */
function parseAliasSpec(spec: string): { name: string; version: string } | undefined {
  const match = /^npm:((?:@[^/@]+\/)?[^@]+)@(.+)$/.exec(spec);
  return match?.[1] && match[2] ? { name: match[1], version: match[2] } : undefined;
}

/**
 * The installed packages of a parsed package-lock.json, one entry per name and version.
 * Linked workspace entries and entries without a registry version (git, file:) are skipped: advisories
 * name registry versions.
 * @throws Error when the value is not a package-lock.json.
 */
export function readLockfile(lock: unknown): InstalledPackage[] {
  if (!isRecord(lock)) throw new Error('package-lock.json is not a JSON object');
  const found = new Map<string, InstalledPackage>();
  const add = (name: string, version: string, path: string, dev: boolean) => {
    const clean = semver.valid(version);
    if (!clean) return;
    const key = `${name}@${clean}`;
    const existing = found.get(key);
    if (existing) {
      existing.paths.push(path);
      existing.dev = existing.dev && dev;
    } else {
      found.set(key, { name, version: clean, paths: [path], dev });
    }
  };

  if (isRecord(lock.packages)) {
    for (const [path, entry] of Object.entries(lock.packages)) {
      // "" is the project itself; links point at a workspace folder listed under its own path.
      if (path === '' || !isRecord(entry) || entry.link === true) continue;
      const name = typeof entry.name === 'string' ? entry.name : nameFromLockPath(path);
      if (!name || typeof entry.version !== 'string') continue;
      // A v3 alias entry carries the real name in `name`; in older v2 files the version may be "npm:x@1".
      const alias = parseAliasSpec(entry.version);
      if (alias) add(alias.name, alias.version, path, entry.dev === true);
      else add(name, entry.version, path, entry.dev === true);
    }
  } else if (isRecord(lock.dependencies)) {
    const walk = (dependencies: Record<string, unknown>, prefix: string) => {
      for (const [key, entry] of Object.entries(dependencies)) {
        if (!isRecord(entry) || typeof entry.version !== 'string') continue;
        const path = `${prefix}node_modules/${key}`;
        const alias = parseAliasSpec(entry.version);
        if (alias) add(alias.name, alias.version, path, entry.dev === true);
        else add(key, entry.version, path, entry.dev === true);
        if (isRecord(entry.dependencies)) walk(entry.dependencies, `${path}/`);
      }
    };
    walk(lock.dependencies, '');
  } else {
    throw new Error('package-lock.json has neither "packages" nor "dependencies"');
  }
  for (const item of found.values()) item.paths.sort();
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name) || semver.compare(a.version, b.version));
}
