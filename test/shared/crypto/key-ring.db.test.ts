/**
 * The key ring: keys are stored only wrapped by the master key; a wrong MASTER_KEY is refused at start with a
 * clear message (instead of failing on every request); rotation keeps old ciphertexts readable.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecryptionError, fieldAad } from '#shared/crypto/aead.ts';
import { loadKeyRing, MasterKeyMismatchError, masterKeyFingerprint } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { cryptoKeys } from '#shared/db/schema-crypto.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
const master = randomBytesOf(32);
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.close();
});

describe('key ring', () => {
  it('creates one primary key on a new database, stored only wrapped', async () => {
    const rings = await Promise.all([loadKeyRing(database.db, master), loadKeyRing(database.db, master)]);
    const rows = await database.db.select().from(cryptoKeys);
    expect(rows).toHaveLength(1); // concurrent first starts create one key
    expect(rows[0]).toMatchObject({ id: 1, status: 'primary', masterFingerprint: masterKeyFingerprint(master) });
    const primary = rings[0]?.primary();
    expect(primary?.key).toHaveLength(32);
    expect(rows[0]?.wrappedKey.includes(primary?.key as Buffer)).toBe(false);
    expect(rings[1]?.primary().key.equals(primary?.key as Buffer)).toBe(true);
  });

  it('refuses a different master key at start, naming both fingerprints', async () => {
    const wrong = randomBytesOf(32);
    const error = await loadKeyRing(database.db, wrong).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MasterKeyMismatchError);
    expect((error as Error).message).toContain(masterKeyFingerprint(wrong));
    expect((error as Error).message).toContain(masterKeyFingerprint(master));
  });

  it('refuses a master key whose fingerprint was forged onto the rows', async () => {
    const wrong = randomBytesOf(32);
    const scratch = await createTestDatabase();
    await loadKeyRing(scratch.db, master);
    await scratch.db.update(cryptoKeys).set({ masterFingerprint: masterKeyFingerprint(wrong) });
    await expect(loadKeyRing(scratch.db, wrong)).rejects.toBeInstanceOf(MasterKeyMismatchError);
    await scratch.close();
  });

  it('rotates: new values use the new key, old values stay readable, retired keys open nothing', async () => {
    const ring = await loadKeyRing(database.db, master);
    const aad = fieldAad('settings', 'webhook_secret', '1');
    const old = ring.seal(Buffer.from('old secret'), aad);
    const newId = await ring.rotate();
    expect(newId).toBe(2);
    expect(ring.list()).toEqual([
      { id: 1, status: 'active' },
      { id: 2, status: 'primary' },
    ]);
    const fresh = ring.seal(Buffer.from('new secret'), aad);
    expect(fresh.readUInt32BE(1)).toBe(2);
    expect((await ring.open(old, aad)).toString()).toBe('old secret');
    expect((await ring.open(fresh, aad)).toString()).toBe('new secret');

    // Another process sees the rotation on its next miss.
    const other = await loadKeyRing(database.db, master);
    expect(other.primary().id).toBe(2);

    await expect(ring.retire(2)).rejects.toThrow(/primary key cannot be retired/);
    await ring.retire(1);
    await expect(ring.open(old, aad)).rejects.toBeInstanceOf(DecryptionError);
    const [{ primaries } = { primaries: 0 }] = (
      (await database.db.execute(
        sql`select count(*)::int as primaries from crypto_keys where status = 'primary'`,
      )) as unknown as { rows: { primaries: number }[] }
    ).rows;
    expect(primaries).toBe(1);
  });
});
