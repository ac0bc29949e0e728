/**
 * The key ring: data-encryption keys stored wrapped by the master key (which never enters the database),
 * one primary key for new data, older keys kept to open old data until the re-encryption job has moved
 * everything to the primary. At start the ring refuses a master key that cannot open the stored keys.
 */
import { createHmac } from 'node:crypto';
import { asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { type CryptoKeyRow, cryptoKeys } from '../db/schema-crypto.ts';
import { DecryptionError, fieldAad, KEY_BYTES, openEnvelope, readEnvelope, sealEnvelope } from './aead.ts';
import { randomBytesOf } from './random.ts';

/** Master-key "id" written into the envelope of a wrapped ring key (ring keys use ids ≥ 1). */
const MASTER_KEY_ID = 0;
/** Advisory-lock key serialising ring changes across processes. */
const RING_LOCK_KEY = 7_201_522_101;

/** Thrown at start when MASTER_KEY is not the key that sealed the stored key ring. */
export class MasterKeyMismatchError extends Error {
  constructor(expected: string, actual: string) {
    super(
      `MASTER_KEY does not open the stored encryption keys (it has fingerprint ${actual}, the keys were sealed ` +
        `by ${expected}). Start with the MASTER_KEY this database was created with; with any other key the ` +
        'encrypted data cannot be read, so the server refuses to run rather than fail on every request.',
    );
    this.name = 'MasterKeyMismatchError';
  }
}

/** A short public fingerprint of the master key (HMAC, so it reveals nothing about the key). */
export function masterKeyFingerprint(masterKey: Uint8Array): string {
  return createHmac('sha256', masterKey).update('tsp:master-key-fingerprint:v1').digest('hex').slice(0, 16);
}

export interface RingKey {
  id: number;
  status: CryptoKeyRow['status'];
  key: Buffer;
}

export interface KeyRing {
  /** The key that seals new data. */
  primary(): RingKey;
  /** A key by id (reloading once from the database when another process added it). Retired keys are refused. */
  get(id: number): Promise<RingKey>;
  /** Seals a value under the primary key (for non-personal secrets; personal data uses per-user keys). */
  seal(plaintext: Uint8Array, aad: Uint8Array): Buffer;
  /** Opens a value sealed by {@link seal} with whichever ring key sealed it. */
  open(sealed: Uint8Array, aad: Uint8Array): Promise<Buffer>;
  /** Adds a new key and makes it primary; the old primary stays active for reading. Returns the new id. */
  rotate(): Promise<number>;
  /** Marks a non-primary key retired (after re-encryption); it can no longer open anything. */
  retire(id: number): Promise<void>;
  /** Ids and statuses, for admin surfaces and tests. */
  list(): { id: number; status: CryptoKeyRow['status'] }[];
  reload(): Promise<void>;
}

function wrapAad(id: number): Buffer {
  return fieldAad('crypto_keys', 'wrapped_key', String(id));
}

/**
 * Loads the ring (creating the first key on a new database).
 * @throws MasterKeyMismatchError when the master key cannot open the stored keys.
 */
export async function loadKeyRing(db: Db, masterKey: Uint8Array): Promise<KeyRing> {
  if (masterKey.length !== KEY_BYTES) throw new Error('The master key must be 32 bytes');
  const fingerprint = masterKeyFingerprint(masterKey);
  let keys = new Map<number, RingKey>();

  const unwrap = (row: CryptoKeyRow): RingKey => {
    if (row.masterFingerprint !== fingerprint) throw new MasterKeyMismatchError(row.masterFingerprint, fingerprint);
    try {
      return { id: row.id, status: row.status, key: openEnvelope(masterKey, row.wrappedKey, wrapAad(row.id)) };
    } catch (error) {
      if (error instanceof DecryptionError) throw new MasterKeyMismatchError(row.masterFingerprint, fingerprint);
      throw error;
    }
  };

  const load = async () => {
    const rows = await db.select().from(cryptoKeys).orderBy(asc(cryptoKeys.id));
    const next = new Map<number, RingKey>();
    for (const row of rows) next.set(row.id, unwrap(row));
    keys = next;
  };

  /** Inserts a new key under the ring lock; optionally makes it primary. */
  const addKey = async (makePrimary: boolean): Promise<number> =>
    db.transaction(async (tx) => {
      // Several processes may start (or rotate) at once: one ring change at a time.
      await tx.execute(sql`select pg_advisory_xact_lock(${RING_LOCK_KEY})`);
      const existing = await tx.select({ id: cryptoKeys.id, status: cryptoKeys.status }).from(cryptoKeys);
      if (!makePrimary && existing.length > 0) return 0; // first key already created by another process
      const id = Math.max(0, ...existing.map((row) => row.id)) + 1;
      const material = randomBytesOf(KEY_BYTES);
      if (makePrimary) {
        await tx.update(cryptoKeys).set({ status: 'active' }).where(eq(cryptoKeys.status, 'primary'));
      }
      await tx.insert(cryptoKeys).values({
        id,
        status: 'primary',
        wrappedKey: sealEnvelope(masterKey, MASTER_KEY_ID, material, wrapAad(id)),
        masterFingerprint: fingerprint,
        promotedAt: new Date(),
      });
      return id;
    });

  await load();
  if (keys.size === 0) {
    await addKey(false);
    await load();
  }

  const ring: KeyRing = {
    primary() {
      for (const key of keys.values()) if (key.status === 'primary') return key;
      throw new Error('The key ring has no primary key');
    },
    async get(id) {
      let key = keys.get(id);
      if (!key) {
        await load();
        key = keys.get(id);
      }
      if (!key) throw new DecryptionError(`Unknown key id ${id}`);
      if (key.status === 'retired') throw new DecryptionError(`Key ${id} is retired`);
      return key;
    },
    seal(plaintext, aad) {
      const primary = ring.primary();
      return sealEnvelope(primary.key, primary.id, plaintext, aad);
    },
    async open(sealed, aad) {
      const { keyId } = readEnvelope(sealed);
      const key = await ring.get(keyId);
      return openEnvelope(key.key, sealed, aad);
    },
    async rotate() {
      const id = await addKey(true);
      await load();
      return id;
    },
    async retire(id) {
      await load();
      const key = keys.get(id);
      if (!key) throw new Error(`Unknown key id ${id}`);
      if (key.status === 'primary') throw new Error('The primary key cannot be retired: rotate first');
      await db.update(cryptoKeys).set({ status: 'retired', retiredAt: new Date() }).where(eq(cryptoKeys.id, id));
      await load();
    },
    list() {
      return [...keys.values()].map(({ id, status }) => ({ id, status }));
    },
    reload: load,
  };
  return ring;
}
