/**
 * Runs the real product as a child process (`server/main.ts`, as `npm start` does) with a temporary
 * DATA_DIR, a free port and its own Redis key prefix, and waits for /healthz.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './paths.ts';

export interface SpawnedServer {
  url: string;
  dataDir: string;
  child: ChildProcess;
  /** Milliseconds from spawn to the first 200 from /healthz. */
  startupMs: number;
  logs(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface RunResult {
  code: number | null;
  output: string;
}

/** How long a spawned server may take to become healthy, a run to completion, and a stop, before it is killed. */
export const PROCESS_LIMITS_MS = { startup: 60_000, run: 30_000, stop: 30_000 } as const;

/** Runs server/main.ts to completion (for start-up failures) with the given environment. */
export async function runMain(
  env: Record<string, string>,
  timeoutMs: number = PROCESS_LIMITS_MS.run,
): Promise<RunResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, output };
}

/**
 * Starts the product and resolves once /healthz answers 200.
 * @throws with the child's output when it exits or does not become healthy within `timeoutMs`.
 */
export async function spawnServer(
  env: Record<string, string> = {},
  timeoutMs: number = PROCESS_LIMITS_MS.startup,
): Promise<SpawnedServer> {
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'tsp-server-'));
  const port = env.PORT ?? String(await freePort());
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      REDIS_PREFIX: `t${Math.floor(started % 1e9).toString(36)}${port}`,
      ...env,
      DATA_DIR: dataDir,
      PORT: port,
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  let startupMs = -1;
  while (Date.now() - started < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) {
        startupMs = Date.now() - started;
        break;
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  if (startupMs < 0) {
    child.kill('SIGKILL');
    throw new Error(`server did not become healthy in ${timeoutMs} ms:\n${output}`);
  }
  return {
    url,
    dataDir,
    child,
    startupMs,
    logs: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_LIMITS_MS.stop);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
