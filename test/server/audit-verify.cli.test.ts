/**
 * An operator who suspects tampering runs `npm run audit:verify`: it must verify with the deployment's own key
 * (from MASTER_KEY), exit non-zero naming the first broken link when the trail was tampered with, and never
 * change the database it inspects.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditVerification,
  createAuditCheckpoint,
  createAuditLog,
  deriveAuditSigningKey,
} from '#shared/audit/index.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { connectDatabase, type Database } from '#shared/db/index.ts';
import { asSuperuser, recordMany } from '#test/helpers/audit.ts';
import { ROOT } from '#test/helpers/paths.ts';
import { createTestDatabase, type TestDatabase, usesServer } from '#test/helpers/test-db.ts';

const masterKey = randomBytesOf(32);
const dataDir = mkdtempSync(join(tmpdir(), 'tsp-audit-cli-'));
let server: TestDatabase | undefined;

/** The environment the CLI gets: the same database and MASTER_KEY the product would use. */
function cliEnv(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    MASTER_KEY: masterKey.toString('hex'),
  };
  if (server?.url) {
    env.DATABASE_URL = server.url;
    // Required by the configuration whenever DATABASE_URL is set; the verifier never opens it.
    env.KEYSTORE_DATABASE_URL = `${server.url}_keys`;
  }
  return env;
}

/** How long one CLI run may take before it is killed. */
const CLI_LIMIT_MS = 60_000;

async function runCli(args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli/audit-verify.ts', ...args], {
    cwd: ROOT,
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Opens the database the CLI will read (PGlite serves one process: closed again before the CLI runs). */
async function withDatabase(task: (database: Database) => Promise<void>): Promise<void> {
  if (server) return task(server);
  const database = await connectDatabase({ pgliteDir: join(dataDir, 'pglite') });
  try {
    await task(database);
  } finally {
    await database.close();
  }
}

beforeAll(async () => {
  if (usesServer) server = await createTestDatabase();
});
afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

// Each CLI run is a cold `node --import tsx` start, allowed 60 s; a test runs it up to three times.
describe('npm run audit:verify', { timeout: 3 * CLI_LIMIT_MS + 30_000 }, () => {
  it('reports an intact trail and exits 0; names the first broken link and exits 1 after tampering', async () => {
    await withDatabase(async (database) => {
      await database.migrate();
      const audit = createAuditLog({ db: database.db });
      await recordMany(audit, 8);
      await createAuditCheckpoint(database.db, { signingKey: deriveAuditSigningKey(masterKey) });
      await recordMany(audit, 2);
    });

    const intact = await runCli();
    expect(intact.stderr).toBe('');
    expect(intact.code).toBe(0);
    expect(intact.stdout).toContain('seq 1 to 10, 10 verified');
    expect(intact.stdout).toContain('1 valid; latest at seq 8');
    expect(intact.stdout).toContain(deriveAuditSigningKey(masterKey).keyId);
    expect(intact.stdout).toContain('Result: OK');

    await withDatabase(async (database) => {
      await asSuperuser(database.db, [sql`update audit_log set action = 'auth.logout' where seq = 3`]);
    });
    const broken = await runCli(['--json']);
    expect(broken.code).toBe(1);
    const result = JSON.parse(broken.stdout) as AuditVerification;
    expect(result).toMatchObject({ ok: false, checked: 2, firstBroken: { seq: 3, reason: 'hash_mismatch' } });
    expect((await runCli()).stdout).toMatch(/Result: BROKEN at seq 3: this entry’s contents do not match its hash/);
  });

  it('does not trust checkpoints signed under another master key', async () => {
    await withDatabase(async (database) => {
      await asSuperuser(database.db, [sql`truncate audit_log, audit_checkpoints`]);
      await recordMany(createAuditLog({ db: database.db }), 3);
      await createAuditCheckpoint(database.db, { signingKey: deriveAuditSigningKey(randomBytesOf(32)) });
    });
    const result = await runCli();
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('BROKEN at seq 3');
    expect(result.stdout).toContain('not trusted');
  });

  it('exits 2 with a clear message when it cannot verify', async () => {
    const usage = await runCli(['--bogus']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Unknown option '--bogus'[\s\S]*Usage: npm run audit:verify/);
  });
});
