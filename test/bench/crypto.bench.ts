/**
 * Field encryption costs, side by side: raw AES-256-GCM envelope open vs opening through per-user keys with
 * the data key cached (the common path) and uncached (a key-store read per field).
 */
import { fieldAad, openEnvelope, sealEnvelope } from '#shared/crypto/aead.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { createUserKeys } from '#shared/crypto/user-keys.ts';
import { createTestDatabase, createTestKeystore } from '../helpers/test-db.ts';
import type { BenchFigure } from './run.ts';

async function opsPerSecond(label: string, durationMs: number, op: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await op(); // warm up
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < durationMs) {
    await op();
    count++;
  }
  const rate = count / ((performance.now() - started) / 1000);
  void label;
  return rate;
}

export async function run(): Promise<BenchFigure[]> {
  const data = await createTestDatabase();
  const keystore = await createTestKeystore();
  const ring = await loadKeyRing(data.db, randomBytesOf(32));
  const userKeys = createUserKeys({ keystore: keystore.db, ring });
  const userId = '00000000-0000-4000-8000-00000000be01';
  const context = { table: 'profiles', column: 'display_name', rowId: '1' };
  const plaintext = Buffer.alloc(200, 'x'); // 200-byte field
  const sealed = await userKeys.sealForUser(userId, plaintext, context);
  const key = randomBytesOf(32);
  const aad = fieldAad('profiles', 'display_name', '1');
  const raw = sealEnvelope(key, 1, plaintext, aad);

  const rawRate = await opsPerSecond('raw', 1_000, () => openEnvelope(key, raw, aad));
  const cachedRate = await opsPerSecond('cached', 1_000, () => userKeys.openForUser(userId, sealed, context));
  const uncachedRate = await opsPerSecond('uncached', 1_000, () =>
    createUserKeys({ keystore: keystore.db, ring }).openForUser(userId, sealed, context),
  );
  const sealRate = await opsPerSecond('seal', 1_000, () => userKeys.sealForUser(userId, plaintext, context));
  await keystore.close();
  await data.close();
  const store = process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite';
  return [
    { name: 'AES-256-GCM envelope open, 200 B (baseline)', value: rawRate, unit: 'ops/s', note: '1.00x' },
    {
      name: 'field decrypt via per-user key, key cached',
      value: cachedRate,
      unit: 'ops/s',
      note: `${(cachedRate / rawRate).toFixed(2)}x of baseline`,
    },
    {
      name: `field decrypt via per-user key, key-store read (${store})`,
      value: uncachedRate,
      unit: 'ops/s',
      note: `${(uncachedRate / rawRate).toFixed(3)}x of baseline`,
    },
    { name: 'field encrypt via per-user key, key cached', value: sealRate, unit: 'ops/s', note: '' },
  ];
}
