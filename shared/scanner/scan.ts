/**
 * One scan, start to finish: dependencies against the advisories, configuration, the HTTP self-check; then
 * the findings are merged into the stored ones (new / resolved). Progress is reported per phase so the
 * job and the bot can show it.
 */
import { readFile } from 'node:fs/promises';
import type { Config, Secrets } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import type { ScanTrigger } from '../db/schema-scanner.ts';
import { type AdvisoryIndex, loadAdvisories } from './advisories.ts';
import { checkConfiguration, type RedisPolicy } from './config-checks.ts';
import { dependencyFindings, matchDependencies } from './dependencies.ts';
import { type Finding, finding } from './finding.ts';
import { checkHttpHeaders, type HeaderExpectation } from './http-check.ts';
import { type InstalledPackage, readLockfile } from './lockfile.ts';
import { type RedisCommander, readAdminMfa, readDevSecrets, readRedisPolicy, readRingKeys } from './probes.ts';
import { completeScanRun, failScanRun, type ScanOutcome, startScanRun } from './repository.ts';

export const SCAN_PHASES = ['dependencies', 'configuration', 'http', 'saving'] as const;
export type ScanPhase = (typeof SCAN_PHASES)[number];
export type ScanProgress = (phase: ScanPhase, percent: number) => Promise<void> | void;

export interface ScanDeps {
  db: Db;
  config: Config;
  secrets: Secrets;
  redis: RedisCommander;
  /** The policy pages and headers for the HTTP self-check; omitted → the check is skipped. */
  httpExpectations?: readonly HeaderExpectation[];
  now?: () => Date;
}

const DAY_MS = 86_400_000;

interface DependencyResult {
  findings: Finding[];
  packagesChecked: number;
  index: AdvisoryIndex | undefined;
}

/** The dependency check, turning unreadable inputs into findings (the scan goes on without them). */
export async function scanDependencies(
  lockfilePath: string,
  advisoriesPath: string,
  maxAgeDays: number,
  now: Date,
): Promise<DependencyResult> {
  const findings: Finding[] = [];
  let installed: InstalledPackage[] = [];
  try {
    installed = readLockfile(JSON.parse(await readFile(lockfilePath, 'utf8')));
  } catch (error) {
    findings.push(
      finding(
        'dependency',
        'scanner.lockfile_unreadable',
        'lockfile_unreadable',
        'medium',
        'Dependencies were not checked: lockfile unreadable',
        `${lockfilePath}: ${(error as Error).message.slice(0, 160)}. Set SCANNER_LOCKFILE_PATH to the deployed package-lock.json.`,
      ),
    );
  }
  let index: AdvisoryIndex | undefined;
  try {
    index = await loadAdvisories(advisoriesPath);
  } catch (error) {
    findings.push(
      finding(
        'dependency',
        'scanner.advisories_unavailable',
        'advisories_unavailable',
        'high',
        'Dependencies were not checked: no advisory data',
        `${advisoriesPath}: ${(error as Error).message.slice(0, 160)}. Set SCANNER_ADVISORIES_PATH to OSV advisory data (README, Vulnerability scanner).`,
      ),
    );
  }
  if (index) {
    findings.push(...dependencyFindings(matchDependencies(installed, index)));
    const newest = index.newestModified;
    const ageDays = newest ? Math.floor((now.getTime() - newest.getTime()) / DAY_MS) : undefined;
    if (ageDays === undefined || ageDays > maxAgeDays) {
      findings.push(
        finding(
          'dependency',
          'scanner.advisories_stale',
          'advisories_stale',
          'medium',
          'Advisory data is out of date',
          `The newest advisory is ${ageDays === undefined ? 'undated' : `${ageDays} days old`} (limit ${maxAgeDays}): vulnerabilities published since are not detected. Refresh the data (README, Vulnerability scanner).`,
        ),
      );
    }
  }
  return { findings, packagesChecked: installed.length, index };
}

/**
 * Runs a whole scan and stores it.
 * @throws when storing fails (the run is then marked failed with SCAN_FAILED).
 */
export async function runScan(deps: ScanDeps, trigger: ScanTrigger, onProgress?: ScanProgress): Promise<ScanOutcome> {
  const now = deps.now ?? (() => new Date());
  const { config } = deps;
  const scanId = await startScanRun(deps.db, trigger, now());
  try {
    await onProgress?.('dependencies', 5);
    const dependencies = await scanDependencies(
      config.scanner.lockfilePath,
      config.scanner.advisoriesPath,
      config.scanner.advisoriesMaxAgeDays,
      now(),
    );
    await onProgress?.('configuration', 40);
    const redisPolicy: RedisPolicy = await readRedisPolicy(deps.redis);
    const configFindings = checkConfiguration({
      config,
      secrets: deps.secrets,
      devSecrets: readDevSecrets(config.dataDir),
      ringKeys: await readRingKeys(deps.db),
      keyRotationDays: config.scanner.keyRotationDays,
      redisPolicy,
      adminMfa: await readAdminMfa(deps.db),
      now: now(),
    });
    await onProgress?.('http', 65);
    const httpFindings = deps.httpExpectations
      ? await checkHttpHeaders(config.scanner.selfUrl, deps.httpExpectations)
      : [];
    await onProgress?.('saving', 90);
    const outcome = await completeScanRun(
      deps.db,
      scanId,
      [...dependencies.findings, ...configFindings, ...httpFindings],
      {
        packagesChecked: dependencies.packagesChecked,
        advisoriesLoaded: dependencies.index?.count ?? 0,
        advisoriesUpdatedAt: dependencies.index?.newestModified,
      },
      now(),
    );
    await onProgress?.('saving', 100);
    return outcome;
  } catch (error) {
    await failScanRun(deps.db, scanId, 'SCAN_FAILED', now()).catch(() => {});
    throw error;
  }
}
