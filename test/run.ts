/**
 * `npm test`: typecheck, lint, build the Mini App, then every test tier on PGlite; when TEST_DATABASE_URL
 * names a PostgreSQL server, the database-facing tiers run again against it. Ends with one summary line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/paths.ts';

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  success: boolean;
}

const started = Date.now();
const failures: string[] = [];
let passed = 0;
let failed = 0;
let skipped = 0;

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
if (failures.length > 0) process.stdout.write(`\nFailed steps: ${failures.join(', ')}\n`);
process.stdout.write(`\nnpm test finished in ${seconds}s\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failures.length > 0 || failed > 0 ? 1 : 0);
