/**
 * A database leak (a dump, a backup, a read-only SQL injection) must not yield a working key: only a SHA-256
 * hash of each key and a short display prefix are stored, never the key or enough of it to use.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '#shared/crypto/hash.ts';
import { apiKeys } from '#shared/db/schema.ts';
import { type ApiKeyFixture, createApiKeyFixture } from '#test/helpers/api-keys.ts';
import { rowsOf } from '#test/helpers/audit.ts';

let f: ApiKeyFixture;
beforeAll(async () => {
  f = await createApiKeyFixture();
});
beforeEach(async () => {
  await f.reset();
});
afterAll(async () => {
  await f.close();
});

/** Every row of every public table, as text: what a dump of the database would contain. */
async function dumpEverything(): Promise<string> {
  const tables = rowsOf<{ tablename: string }>(
    await f.database.db.execute(sql`select tablename from pg_tables where schemaname = 'public'`),
  );
  const parts: string[] = [];
  for (const { tablename } of tables) {
    const rows = rowsOf<{ row: string }>(
      await f.database.db.execute(sql`select row_to_json(t)::text as row from ${sql.identifier(tablename)} t`),
    );
    parts.push(...rows.map((row) => row.row));
  }
  return parts.join('\n');
}

describe('hash-only storage', () => {
  it('stores the SHA-256 of the key and a display prefix, never the key or its random part', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'CI', source: 'api' });
    const rotated = await f.service.rotate({ userId: owner.id, keyId: apiKey.id, source: 'api' });

    const [row] = await f.database.db.select().from(apiKeys).where(sql`${apiKeys.id} = ${apiKey.id}`);
    expect(row?.keyHash).toBe(sha256Hex(key));
    expect(row?.displayPrefix).toBe(`${key.slice(0, 8)}…${key.slice(-4)}`);

    const dump = await dumpEverything();
    expect(dump).toContain(sha256Hex(key));
    for (const secret of [key, rotated.key]) {
      const randomPart = secret.slice(4, 34);
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(randomPart);
      // Not even a long piece of it: the display prefix shows 4 random characters, nothing longer.
      for (let start = 0; start + 8 <= randomPart.length; start++) {
        expect(dump).not.toContain(randomPart.slice(start, start + 8));
      }
    }
  });

  it('does not accept the stored hash in place of the key', async () => {
    const owner = await f.makeUser();
    const { key } = await f.service.create({ userId: owner.id, name: 'CI', source: 'api' });
    await expect(f.service.authenticate(sha256Hex(key), '198.51.100.7')).resolves.toEqual({
      ok: false,
      reason: 'API_KEY_MALFORMED',
    });
  });
});
