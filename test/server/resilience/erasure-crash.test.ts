/**
 * Threat: a worker dying mid-erasure and leaving a half-erased person (account closed, data still there, data
 * key intact) forever. A worker process runs a due erasure and is SIGKILLed right after its first table step;
 * a new worker process takes the job over and must finish it: every step done, the API key gone, the data key
 * shredded, the request completed. Both processes run the real privacy processor on the same database
 * (PGlite in one DATA_DIR, one process at a time; or the PostgreSQL server) and the same Redis queue.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '#shared/redis/index.ts';
import { ROOT } from '#test/helpers/paths.ts';
import { TEST_REDIS_URL } from '#test/helpers/test-redis.ts';
import { type ProductDatabases, productDatabases } from './harness.ts';

const FIXTURE = 'test/server/resilience/erasure-worker.fixture.ts';
const PROCESS_LIMIT_MS = 180_000;

let databases: ProductDatabases;
const dataDir = mkdtempSync(join(tmpdir(), 'tsp-erasure-'));
const redisPrefix = `t-erasure-${randomBytes(4).toString('hex')}`;
const children: ChildProcess[] = [];

beforeAll(async () => {
  databases = await productDatabases();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await databases?.close();
  rmSync(dataDir, { recursive: true, force: true });
  const redis = await connectRedis({ url: TEST_REDIS_URL, isDefault: false, dataDir: tmpdir() });
  const keys = await redis.client.keys(`${redisPrefix}*`);
  if (keys.length > 0) await redis.client.del(...keys);
  await redis.close();
});

interface Worker {
  child: ChildProcess;
  output(): string;
  /** Resolves with the rest of the first stdout line starting with `prefix`. */
  line(prefix: string): Promise<string>;
  exited: Promise<number | null>;
}

function startWorker(mode: 'seed' | 'resume', extra: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: redisPrefix,
      ...databases.env,
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    line: (prefix) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${prefix} line in time:\n${output}`)), PROCESS_LIMIT_MS);
        const check = () => {
          const found = output.split('\n').find((line) => line.startsWith(`${prefix} `));
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found.slice(prefix.length + 1));
          }
        };
        child.stdout?.on('data', check);
        exited.then(() => {
          check();
          clearTimeout(timer);
          reject(new Error(`the worker exited before ${prefix}:\n${output}`));
        });
        check();
      }),
  };
}

interface ErasureState {
  requestStatus: string;
  userStatus: string | null;
  steps: string[];
  apiKeys: number;
  shredded: boolean;
}

describe('a worker killed mid-erasure', () => {
  it(
    'leaves the erasure to the next worker, which completes it with nothing half-done',
    async () => {
      const first = startWorker('seed');
      const ids = JSON.parse(await first.line('SEEDED')) as { requestId: string; userId: string };
      const pausedAt = await first.line('PAUSED');
      first.child.kill('SIGKILL'); // a crash in the middle of the erasure
      await first.exited;

      const started = Date.now();
      const second = startWorker('resume', { ERASURE_IDS: JSON.stringify(ids) });
      const before = JSON.parse(await second.line('BEFORE')) as ErasureState;
      const after = JSON.parse(await second.line('AFTER')) as ErasureState;
      expect(await second.exited).toBe(0);
      console.info(
        `erasure killed after ${pausedAt}; completed by the next worker ${Date.now() - started} ms after it started`,
      );

      // The crash left it half-done: account closed, the first table erased, the key and the rest not yet.
      expect(before).toMatchObject({ requestStatus: 'processing', userStatus: 'deleted', apiKeys: 1, shredded: false });
      expect(before.steps).toContain(pausedAt);
      expect(before.steps).not.toContain('key');

      // The next worker finished it: every step recorded, data gone, the key destroyed.
      expect(after).toMatchObject({ requestStatus: 'completed', apiKeys: 0, shredded: true });
      expect(after.steps).toEqual(expect.arrayContaining([...before.steps, 'key', 'table:api_keys', 'table:users']));
    },
    2 * PROCESS_LIMIT_MS + 60_000,
  );
});
