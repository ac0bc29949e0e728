/**
 * Threat: Redis configured to evict keys drops queued jobs, sessions and replay guards under memory
 * pressure. The probe reads the policy with CONFIG GET and, where a managed Redis disables CONFIG, from
 * INFO memory; real redis-server processes play each setup.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { readRedisPolicy } from '#shared/scanner/index.ts';
import { createTestRedis } from '#test/helpers/test-redis.ts';

const started: { process: ChildProcess | undefined; client: Redis | undefined }[] = [];

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/** A throwaway redis-server with the given arguments (no persistence). */
async function startRedis(args: string[]): Promise<Redis> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
    {
      stdio: 'ignore',
    },
  );
  started.push({ process: child, client: undefined });
  for (let attempt = 0; attempt < 50 && !(await accepts(port)); attempt++) await sleep(100);
  // No ready check: it uses INFO, which one of these servers disables.
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, enableReadyCheck: false });
  client.on('error', () => {});
  started.push({ process: undefined, client });
  if (await accepts(port)) return client;
  throw new Error('redis-server did not start');
}

afterAll(async () => {
  for (const { process, client } of started) {
    client?.disconnect();
    process?.kill('SIGTERM');
  }
});

describe('Redis eviction policy probe', () => {
  it('reads noeviction from the test server through CONFIG GET', async () => {
    const redis = await createTestRedis();
    try {
      expect(await readRedisPolicy(redis.client)).toEqual({ policy: 'noeviction', via: 'config' });
    } finally {
      await redis.close();
    }
  });

  it('reads an evicting policy', async () => {
    const client = await startRedis(['--maxmemory-policy', 'allkeys-lru']);
    expect(await readRedisPolicy(client)).toEqual({ policy: 'allkeys-lru', via: 'config' });
  });

  it('falls back to INFO memory when CONFIG is disabled', async () => {
    const client = await startRedis(['--maxmemory-policy', 'volatile-lru', '--rename-command', 'CONFIG', '']);
    expect(await readRedisPolicy(client)).toEqual({ policy: 'volatile-lru', via: 'info' });
  });

  it('says why when neither answers', async () => {
    const client = await startRedis(['--rename-command', 'CONFIG', '', '--rename-command', 'INFO', '']);
    const result = await readRedisPolicy(client);
    expect('error' in result && result.error).toMatch(/CONFIG GET failed.*INFO failed/);
  });
});
