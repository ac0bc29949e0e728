/**
 * `npm test`: typecheck, lint, build the Mini App, then every test tier on PGlite; when TEST_DATABASE_URL
 * names a PostgreSQL server, the database-facing tiers run again against it. Ends with one summary line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { ROOT } from './helpers/paths.ts';

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  success: boolean;
  testResults: {
    name: string;
    message?: string;
    assertionResults: { fullName: string; status: string; failureMessages?: string[] }[];
  }[];
}

const started = Date.now();
const failures: string[] = [];
let passed = 0;
let failed = 0;
let skipped = 0;
/** Each failed test, named with its step and file, so the last lines of a CI log say what failed. */
const failedTests: string[] = [];

/** The first line of a failure message, without colour codes, cut to one readable line. */
function firstLine(message: string | undefined): string {
  const line =
    stripVTControlCharacters(message ?? '')
      .split('\n')
      .find((part) => part.trim() !== '') ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function collectFailures(name: string, report: VitestJson): void {
  for (const file of report.testResults) {
    const where = relative(ROOT, file.name);
    const failedHere = file.assertionResults.filter((test) => test.status === 'failed');
    for (const test of failedHere) {
      failedTests.push(`${name}: ${where} > ${test.fullName}\n    ${firstLine(test.failureMessages?.[0])}`);
    }
    // A file that failed outside its tests (an import error, a failed beforeAll) carries its message itself.
    if (failedHere.length === 0 && file.message) failedTests.push(`${name}: ${where}\n    ${firstLine(file.message)}`);
  }
}

function step(name: string, command: string, args: string[], env: Record<string, string | undefined> = {}): boolean {
  process.stdout.write(`\n━━ ${name} ━━\n`);
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) failures.push(name);
  return result.status === 0;
}

function vitest(name: string, projects: string[], env: Record<string, string | undefined>): void {
  const out = join(mkdtempSync(join(tmpdir(), 'tsp-vitest-')), 'report.json');
  const projectArgs = projects.flatMap((project) => ['--project', project]);
  step(
    name,
    'npx',
    ['vitest', 'run', ...projectArgs, '--reporter=default', '--reporter=json', `--outputFile=${out}`],
    env,
  );
  try {
    const report = JSON.parse(readFileSync(out, 'utf8')) as VitestJson;
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    skipped += report.numPendingTests;
    collectFailures(name, report);
  } catch {
    failed += 1; // the runner died before reporting
  }
}

const fast = process.argv.includes('--fast'); // skip typecheck/lint/build while iterating
if (!fast) {
  step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
  step('lint', 'npx', ['biome', 'check', '.']);
  step('build', 'npm', ['run', 'build', '--silent']);
}
// The PGlite pass must not inherit a server URL.
vitest('tests on PGlite (unit, integration, e2e)', ['unit', 'integration', 'e2e'], { TEST_DATABASE_URL: undefined });
// Alone, so its memory trend is not bent by a machine busy with the other test files.
vitest('soak test on PGlite', ['soak'], { TEST_DATABASE_URL: undefined });
if (process.env.TEST_DATABASE_URL) {
  vitest('integration tests on the PostgreSQL server', ['integration'], {});
  vitest('soak test on the PostgreSQL server', ['soak'], {});
} else {
  process.stdout.write('\nTEST_DATABASE_URL is unset: the PostgreSQL-server pass was not run (CI sets it).\n');
}

const seconds = Math.round((Date.now() - started) / 1000);
if (failedTests.length > 0)
  process.stdout.write(`\nFailed tests:\n${failedTests.map((line) => `  ${line}`).join('\n')}\n`);
if (failures.length > 0) process.stdout.write(`\nFailed steps: ${failures.join(', ')}\n`);
process.stdout.write(`\nnpm test finished in ${seconds}s\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failures.length > 0 || failed > 0 ? 1 : 0);
