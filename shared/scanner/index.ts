/**
 * The vulnerability scanner: dependencies (package-lock.json against OSV advisories), configuration checks
 * and an HTTP header self-check, stored as findings with first/last seen and diffed scan to scan.
 */
export * from './advisories.ts';
export * from './config-checks.ts';
export * from './dependencies.ts';
export * from './finding.ts';
export * from './http-check.ts';
export * from './lockfile.ts';
export * from './osv.ts';
export * from './probes.ts';
export * from './repository.ts';
export * from './scan.ts';
export * from './service.ts';
