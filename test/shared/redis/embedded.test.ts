/**
 * With REDIS_URL unset and nothing on the default address, the product starts its own redis-server on a
 * unix socket in DATA_DIR with AOF on, so nothing acknowledged is lost across restarts; without a binary it
 * says how to get Redis.
 */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectRedis, REDIS_MISSING_HELP } from '#shared/redis/index.ts';
import { freePort } from '#test/helpers/spawn-server.ts';

describe('embedded Redis', () => {
  it('starts on a private unix socket, keeps data across restarts (AOF), and stops on close', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tsp-embedded-'));
    const url = `redis://127.0.0.1:${await freePort()}`; // nothing answers there
    const first = await connectRedis({ url, isDefault: true, dataDir });
    expect(first.embedded?.socketPath).toBe(join(dataDir, 'redis', 'redis.sock'));
    expect(statSync(first.embedded?.socketPath as string).mode & 0o777).toBe(0o700);
    expect(await first.client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    expect(await first.client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    await first.client.set('survives-restart', 'yes');
    await first.close();

    const second = await connectRedis({ url, isDefault: true, dataDir });
    expect(await second.client.get('survives-restart')).toBe('yes');
    await second.close();
  });

  it('uses a configured server and never starts its own', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tsp-embedded-'));
    const handle = await connectRedis({ url: 'redis://127.0.0.1:6379', isDefault: true, dataDir });
    expect(handle.embedded).toBeUndefined();
    await handle.close();
  });

  it('explains how to get Redis when there is neither a server nor a binary', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const url = `redis://127.0.0.1:${await freePort()}`;
      await expect(connectRedis({ url, isDefault: true, dataDir: tmpdir() })).rejects.toThrow(REDIS_MISSING_HELP);
    } finally {
      process.env.PATH = path;
    }
  });

  it('gives up on an unreachable configured server after the start-up budget', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await expect(connectRedis({ url, isDefault: false, dataDir: tmpdir(), connectTimeoutMs: 1_000 })).rejects.toThrow(
      /gave up/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
