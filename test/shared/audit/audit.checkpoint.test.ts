/**
 * Anyone who can write the database can recompute a hash chain, and can plant checkpoints of their own: only
 * checkpoints signed by the deployment's key (derived from the master key, which never enters the database)
 * count, a forged or altered checkpoint is reported at its seq, and no checkpoint is ever signed over a chain
 * that is already broken.
 */
import { hkdfSync, sign, verify } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AUDIT_SIGNING_KEY_INFO,
  type AuditSigningKey,
  checkpointMessage,
  createAuditCheckpoint,
  createAuditLog,
  deriveAuditSigningKey,
  ed25519FromSeed,
  ed25519KeyId,
  verifyAuditLog,
} from '#shared/audit/index.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { auditCheckpoints } from '#shared/db/schema.ts';
import { asSuperuser, recordMany } from '#test/helpers/audit.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

// RFC 8032 section 7.1, TEST 1, and RFC 8037 appendix A.3 (the JWK thumbprint of the same key).
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC8032_EMPTY_SIGNATURE =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
const RFC8037_THUMBPRINT = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k';

let database: TestDatabase;
let signingKey: AuditSigningKey;
beforeAll(async () => {
  database = await createTestDatabase();
  signingKey = deriveAuditSigningKey(randomBytesOf(32));
});
beforeEach(async () => {
  await database.truncate();
});
afterAll(async () => {
  await database.close();
});

describe('the checkpoint signing key', () => {
  it('builds Ed25519 keys from a raw seed as RFC 8032 specifies, with the RFC 7638 thumbprint as key id', () => {
    const key = ed25519FromSeed(Buffer.from(RFC8032_SEED, 'hex'));
    const x = key.publicKey.export({ format: 'jwk' }).x ?? '';
    expect(Buffer.from(x, 'base64url').toString('hex')).toBe(RFC8032_PUBLIC);
    expect(sign(null, Buffer.alloc(0), key.privateKey).toString('hex')).toBe(RFC8032_EMPTY_SIGNATURE);
    expect(key.keyId).toBe(RFC8037_THUMBPRINT);
  });

  it('is derived from the master key with HKDF-SHA256, the same in every process, different per master key', () => {
    const master = randomBytesOf(32);
    const seed = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), AUDIT_SIGNING_KEY_INFO, 32));
    const expected = ed25519FromSeed(seed);
    expect(deriveAuditSigningKey(master).keyId).toBe(expected.keyId);
    expect(deriveAuditSigningKey(Buffer.from(master)).keyId).toBe(expected.keyId);
    expect(deriveAuditSigningKey(randomBytesOf(32)).keyId).not.toBe(expected.keyId);
    // Not the master key used directly as a seed.
    expect(ed25519FromSeed(master).keyId).not.toBe(expected.keyId);
    expect(() => deriveAuditSigningKey(randomBytesOf(16))).toThrow(/32 bytes/);
  });
});

describe('checkpoints', () => {
  it('sign the head once it moves, and never twice for the same head', async () => {
    expect(await createAuditCheckpoint(database.db, { signingKey })).toEqual({ created: false, checkpoint: null });
    const audit = createAuditLog({ db: database.db });
    const records = await recordMany(audit, 5);
    const first = await createAuditCheckpoint(database.db, { signingKey });
    expect(first.created).toBe(true);
    expect(first.checkpoint).toMatchObject({ seq: 5, keyId: signingKey.keyId });
    expect(first.checkpoint?.headHash.toString('hex')).toBe(records[4]?.hash);
    const checkpoint = first.checkpoint;
    if (!checkpoint) throw new Error('no checkpoint');
    expect(verify(null, checkpointMessage(checkpoint), signingKey.publicKey, checkpoint.signature)).toBe(true);

    expect(await createAuditCheckpoint(database.db, { signingKey })).toMatchObject({ created: false });
    await recordMany(audit, 3);
    expect(await createAuditCheckpoint(database.db, { signingKey })).toMatchObject({
      created: true,
      checkpoint: { seq: 8 },
    });
    expect(await database.db.$count(auditCheckpoints)).toBe(2);
    expect(await verifyAuditLog(database.db, { publicKeys: [signingKey.publicKey] })).toMatchObject({
      ok: true,
      checkpoints: { checked: 2, latest: { seq: 8 }, unsignedEntries: 0 },
    });
  });

  it('store one checkpoint when several workers sign the same head at once', async () => {
    await recordMany(createAuditLog({ db: database.db }), 4);
    const results = await Promise.all([1, 2, 3, 4].map(() => createAuditCheckpoint(database.db, { signingKey })));
    expect(await database.db.$count(auditCheckpoints)).toBe(1);
    expect(results.filter((result) => result.created).length).toBeLessThanOrEqual(1);
    expect(results.every((result) => result.checkpoint?.seq === 4)).toBe(true);
  });

  it('are never signed over a chain that was tampered with since the previous checkpoint', async () => {
    const audit = createAuditLog({ db: database.db });
    await recordMany(audit, 4);
    await createAuditCheckpoint(database.db, { signingKey });
    await recordMany(audit, 4);
    await asSuperuser(database.db, [sql`update audit_log set result = 'denied' where seq = 6`]);
    const result = await createAuditCheckpoint(database.db, { signingKey });
    expect(result).toMatchObject({
      created: false,
      checkpoint: { seq: 4 },
      firstBroken: { seq: 6, reason: 'hash_mismatch' },
    });
    expect(await database.db.$count(auditCheckpoints)).toBe(1);
  });
});

describe('forged checkpoints', () => {
  async function seededWithCheckpoint(): Promise<void> {
    const audit = createAuditLog({ db: database.db });
    await recordMany(audit, 6);
    await createAuditCheckpoint(database.db, { signingKey });
    await recordMany(audit, 4);
  }

  it('signed by another key: reported at their seq as an untrusted key', async () => {
    await seededWithCheckpoint();
    // The attacker rewrites history and vouches for it with a key of their own.
    const attacker = ed25519FromSeed(randomBytesOf(32));
    const forged = { seq: 9, headHash: Buffer.alloc(32, 7), createdAt: new Date(), keyId: attacker.keyId };
    await database.db
      .insert(auditCheckpoints)
      .values({ ...forged, signature: sign(null, checkpointMessage(forged), attacker.privateKey) });
    const result = await verifyAuditLog(database.db, { publicKeys: [signingKey.publicKey] });
    expect(result.firstBroken).toMatchObject({ seq: 9, reason: 'checkpoint_unknown_key' });
  });

  it('claiming the deployment’s key id with a made-up signature: reported as a bad signature', async () => {
    await seededWithCheckpoint();
    await database.db.insert(auditCheckpoints).values({
      seq: 8,
      headHash: Buffer.alloc(32, 1),
      createdAt: new Date(),
      keyId: signingKey.keyId,
      signature: randomBytesOf(64),
    });
    const result = await verifyAuditLog(database.db, { publicKeys: [signingKey.publicKey] });
    expect(result.firstBroken).toMatchObject({ seq: 8, reason: 'checkpoint_bad_signature' });
  });

  it('a genuine checkpoint altered (head hash or time changed): reported as a bad signature', async () => {
    await seededWithCheckpoint();
    await asSuperuser(database.db, [sql`update audit_checkpoints set created_at = created_at - interval '1 day'`]);
    expect((await verifyAuditLog(database.db, { publicKeys: [signingKey.publicKey] })).firstBroken).toMatchObject({
      seq: 6,
      reason: 'checkpoint_bad_signature',
    });
    const [row] = await database.db.select().from(auditCheckpoints).where(eq(auditCheckpoints.seq, 6));
    expect(row).toBeDefined();
  });

  it('verified only with trusted keys: the right checkpoint under the wrong key list is not accepted', async () => {
    await seededWithCheckpoint();
    const other = deriveAuditSigningKey(randomBytesOf(32));
    expect(ed25519KeyId(other.publicKey)).not.toBe(signingKey.keyId);
    const result = await verifyAuditLog(database.db, { publicKeys: [other.publicKey] });
    expect(result.firstBroken).toMatchObject({ seq: 6, reason: 'checkpoint_unknown_key' });
    // Several trusted keys (a rotated master key): any one of them may have signed.
    expect((await verifyAuditLog(database.db, { publicKeys: [other.publicKey, signingKey.publicKey] })).ok).toBe(true);
  });
});
