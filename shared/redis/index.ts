/**
 * Redis connections: the configured server, or (when REDIS_URL is unset and nothing answers on the default
 * address) an embedded redis-server bound to a unix socket in DATA_DIR with AOF on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { retryWithBackoff } from '../resilience/retry.ts';

export interface RedisConnectOptions {
  url: string;
  /** The URL is the default one (not configured): an embedded server may be started. */
  isDefault: boolean;
  dataDir: string;
  connectTimeoutMs?: number;
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void;
  log?: { info(msg: string): void; warn(msg: string): void };
}

export interface RedisHandle {
  /** The main client: fails fast (no offline queue) so requests get 503 instead of hanging while Redis is down. */
  client: Redis;
  /** Options to open more connections to the same server (BullMQ workers, subscribers). */
  connectionOptions: RedisOptions;
  /** Set when this process started its own redis-server. */
  embedded: { socketPath: string; pid: number | undefined } | undefined;
  /** A fresh connection for BullMQ (which needs `maxRetriesPerRequest: null`). */
  createBullConnection(): Redis;
  /** True when Redis answers a PING within `timeoutMs`. */
  isReady(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Message shown when there is neither a Redis server nor a redis-server binary. */
export const REDIS_MISSING_HELP =
  'Redis is not reachable and no redis-server binary is on PATH. Install Redis (Debian/Ubuntu: ' +
  '`apt-get install redis-server`, macOS: `brew install redis`) or set REDIS_URL to a running server.';

const RECONNECT_MAX_DELAY_MS = 2_000;

/** Options for clients that reconnect forever (the process stays up and recovers when Redis returns). */
function baseOptions(options: RedisOptions): RedisOptions {
  return {
    ...options,
    lazyConnect: true,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 100, RECONNECT_MAX_DELAY_MS),
  };
}

function optionsFromUrl(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.replace('/', '');
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

async function canPing(options: RedisOptions, timeoutMs: number): Promise<boolean> {
  const probe = new Redis({
    ...options,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

function hasRedisBinary(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function startEmbedded(dataDir: string, log: RedisConnectOptions['log']) {
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socketPath = join(dir, 'redis.sock');
  // A server left by an earlier run that died without stopping it: reuse it rather than fight over the files.
  if (existsSync(socketPath) && (await canPing({ path: socketPath }, 500))) {
    log?.info(`Using the embedded Redis already running on ${socketPath}`);
    return { socketPath, pid: undefined, stop: async () => {} };
  }
  const child = spawn(
    'redis-server',
    [
      '--port',
      '0', // no TCP listener: only this user, through the socket
      '--unixsocket',
      socketPath,
      '--unixsocketperm',
      '700',
      '--dir',
      dir,
      '--appendonly',
      'yes', // AOF: nothing acknowledged is lost across restarts
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction', // BullMQ must never lose keys to eviction
      '--daemonize',
      'no',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await canPing({ path: socketPath }, 300))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`The embedded redis-server did not start (exit code ${child.exitCode}); see ${dir}`);
    }
    await sleep(50);
  }
  log?.warn(
    `REDIS_URL is unset and nothing answers on the default address: started an embedded Redis on ${socketPath}`,
  );
  return {
    socketPath,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM'); // redis flushes the AOF and exits on SIGTERM
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * Connects to Redis, starting an embedded server when allowed and needed.
 * @throws Error with {@link REDIS_MISSING_HELP} when there is no server and no binary;
 *         RetryTimeoutError when a configured server stays unreachable.
 */
export async function connectRedis(options: RedisConnectOptions): Promise<RedisHandle> {
  let connectionOptions = optionsFromUrl(options.url);
  let embedded: Awaited<ReturnType<typeof startEmbedded>> | undefined;
  if (options.isDefault && !(await canPing(connectionOptions, 1_000))) {
    if (!hasRedisBinary()) throw new Error(REDIS_MISSING_HELP);
    embedded = await startEmbedded(options.dataDir, options.log);
    connectionOptions = { path: embedded.socketPath };
  }

  const client = new Redis({
    ...baseOptions(connectionOptions),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
  });
  // Errors surface as failed commands and readiness; the event itself must not crash the process.
  client.on('error', () => {});
  try {
    await retryWithBackoff(
      async () => {
        if (client.status === 'ready') return;
        if (client.status === 'wait' || client.status === 'end') await client.connect();
        else
          await new Promise<void>((resolve, reject) => {
            client.once('ready', resolve);
            setTimeout(() => reject(new Error(`Redis not ready (${client.status})`)), 2_000).unref();
          });
      },
      { timeoutMs: options.connectTimeoutMs ?? 30_000, ...(options.onRetry ? { onRetry: options.onRetry } : {}) },
    );
  } catch (error) {
    client.disconnect();
    await embedded?.stop();
    throw error;
  }

  const policy = await client.config('GET', 'maxmemory-policy').catch(() => undefined);
  if (Array.isArray(policy) && policy[1] !== 'noeviction') {
    options.log?.warn(`Redis maxmemory-policy is ${String(policy[1])}; BullMQ needs noeviction or jobs can be lost`);
  }

  const extra = new Set<Redis>();
  return {
    client,
    connectionOptions,
    embedded: embedded ? { socketPath: embedded.socketPath, pid: embedded.pid } : undefined,
    createBullConnection() {
      const connection = new Redis({
        ...baseOptions(connectionOptions),
        lazyConnect: false,
        maxRetriesPerRequest: null,
      });
      connection.on('error', () => {});
      extra.add(connection);
      connection.once('end', () => extra.delete(connection));
      return connection;
    },
    async isReady(timeoutMs = 500) {
      if (client.status !== 'ready') return false;
      try {
        const pong = await Promise.race([client.ping(), sleep(timeoutMs).then(() => 'TIMEOUT')]);
        return pong === 'PONG';
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.allSettled([...extra].map((connection) => connection.quit()));
      await client.quit().catch(() => client.disconnect());
      await embedded?.stop();
    },
  };
}
