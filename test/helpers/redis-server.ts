/**
 * A private redis-server for fault tests: its own port and folder, so a test can stop it, kill it and start
 * it again without touching the shared test Redis. With `appendonly`, it keeps its data across restarts the
 * way the product's embedded Redis does (AOF, fsync on every write so even SIGKILL loses nothing).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './spawn-server.ts';

export interface PrivateRedis {
  port: number;
  url: string;
  dir: string;
  /** True while the redis-server process runs. */
  isRunning(): boolean;
  /** Starts (or starts again, on the same port and folder) and resolves once it accepts connections. */
  start(): Promise<void>;
  /** A clean shutdown (SIGTERM: Redis flushes its AOF and exits). */
  stop(): Promise<void>;
  /** A crash (SIGKILL). */
  kill(): Promise<void>;
  /** Kills the server and removes its folder. */
  close(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Keep data across restarts (AOF with fsync always). Default true. */
  appendonly?: boolean;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tsp-redis-'));
  const persistence =
    options.appendonly === false
      ? ['--appendonly', 'no', '--save', '']
      : ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let child: ChildProcess | undefined;

  const waitExit = async (signal: NodeJS.Signals) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await Promise.race([exited, sleep(10_000)]);
    if (running.exitCode === null && running.signalCode === null) {
      running.kill('SIGKILL');
      await exited;
    }
  };

  const handle: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    isRunning: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start() {
      if (handle.isRunning()) return;
      child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          ...persistence,
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      );
      const deadline = Date.now() + 10_000;
      while (!(await canConnect(port))) {
        if (!handle.isRunning() || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
        await sleep(25);
      }
    },
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
    async close() {
      await waitExit('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}
