/**
 * Invented and mistyped keys must cost the attacker's target nothing: a key whose checksum does not match is
 * refused before any database lookup or Redis call, so floods of random keys cannot load the database or
 * probe it. Shown by authenticating against a database and a Redis that are already closed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiKeyService } from '#shared/api-keys/index.ts';
import { createApiKeyService, generateApiKey } from '#shared/api-keys/index.ts';
import { createAuditLog } from '#shared/audit/index.ts';
import { createTestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis } from '#test/helpers/test-redis.ts';

let service: ApiKeyService;
beforeAll(async () => {
  const [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  service = createApiKeyService({
    db: database.db,
    redis: redis.client,
    prefix: redis.prefix,
    audit: createAuditLog({ db: database.db }),
    notify: async () => {},
  });
  // Both backing services go away: any lookup now fails loudly.
  await Promise.all([database.close(), redis.close()]);
});

/** A well-formed key with its last checksum character changed. */
function withBadChecksum(key: string): string {
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  return key.slice(0, -1) + last;
}

describe('checksum before lookup', () => {
  it('refuses a key with a bad checksum without touching the database or Redis', async () => {
    for (let index = 0; index < 20; index++) {
      await expect(service.authenticate(withBadChecksum(generateApiKey()), '198.51.100.7')).resolves.toEqual({
        ok: false,
        reason: 'API_KEY_CHECKSUM_INVALID',
      });
    }
  });

  it('refuses a malformed key the same way', async () => {
    await expect(service.authenticate('tsp_short', '198.51.100.7')).resolves.toEqual({
      ok: false,
      reason: 'API_KEY_MALFORMED',
    });
  });

  it('does reach the database for a well-formed key (which then fails: the database is closed)', async () => {
    await expect(service.authenticate(generateApiKey(), '198.51.100.7')).rejects.toThrow();
  });
});
