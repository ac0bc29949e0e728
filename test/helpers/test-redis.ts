/**
 * Real Redis for tests: the server at TEST_REDIS_URL (default redis://127.0.0.1:6379) with a key prefix of
 * its own per test file, so files run in parallel and twice in a row without seeing each other's keys.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { connectRedis, type RedisHandle } from '#shared/redis/index.ts';

export interface TestRedis extends RedisHandle {
  prefix: string;
}

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function createTestRedis(url = TEST_REDIS_URL): Promise<TestRedis> {
  const handle = await connectRedis({ url, isDefault: false, dataDir: tmpdir(), connectTimeoutMs: 5_000 });
  const prefix = `test-${randomBytes(5).toString('hex')}`;
  return {
    ...handle,
    prefix,
    async close() {
      // Remove this file's keys so repeated runs start clean.
      if (handle.client.status === 'ready') {
        let cursor = '0';
        do {
          const [next, keys] = await handle.client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length > 0) await handle.client.del(...keys);
        } while (cursor !== '0');
      }
      await handle.close();
    },
  };
}
