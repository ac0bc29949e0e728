/**
 * An erasure interrupted by a crash must finish on restart with nothing half-done, and must never run during
 * its grace period or after it was cancelled: erasure cannot be undone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '#shared/audit/index.ts';
import { loadKeyRing } from '#shared/crypto/key-ring.ts';
import { createUserKeys, type UserKeys } from '#shared/crypto/user-keys.ts';
import { users } from '#shared/db/schema.ts';
import { privacyErasureSteps, privacyRequests } from '#shared/db/schema-privacy.ts';
import { bindUserIdentity, deriveTelegramIdIndexKey, upsertTelegramUser } from '#shared/identity/users.ts';
import { cancelErasure, createRequest, recordConsent, runErasure } from '#shared/privacy/index.ts';
import { createTestDatabase, createTestKeystore, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
let keystore: TestDatabase;
let userKeys: UserKeys;
const exportDir = mkdtempSync(join(tmpdir(), 'tsp-erasure-'));
let telegramId = 5_000_000;

beforeAll(async () => {
  database = await createTestDatabase();
  keystore = await createTestKeystore();
  const masterKey = randomBytes(32);
  userKeys = createUserKeys({ keystore: keystore.db, ring: await loadKeyRing(database.db, masterKey) });
  bindUserIdentity(database.db, { indexKey: deriveTelegramIdIndexKey(masterKey), cipher: userKeys });
});
afterAll(async () => {
  await database.close();
  await keystore.close();
});
beforeEach(async () => database.truncate());

async function person() {
  const { user } = await upsertTelegramUser(database.db, {
    telegramId: ++telegramId,
    languageCode: 'en',
    adminTelegramIds: [],
  });
  await recordConsent(
    {
      db: database.db,
      signDocument: async () => 'x.y.z',
      controller: { name: 'c', contact: 'c', dpo: undefined, jurisdiction: 'EU', policyUrl: undefined },
    },
    { userId: user.id, decisions: [{ purposeId: 'analytics', granted: true }], method: 'bot', source: 'bot' },
  );
  await createAuditLog({ db: database.db, cipher: userKeys }).record({
    actor: { type: 'user', id: user.id },
    action: 'auth.login',
    result: 'success',
    source: 'bot',
    details: { client: 'bot' },
  });
  return user;
}
const count = async (table: string, userId: string, column = 'user_id') => {
  const result = await database.db.execute(
    sql.raw(`select count(*)::int as n from "${table}" where "${column}" = '${userId}'`),
  );
  return (result as unknown as { rows: { n: number }[] }).rows[0]?.n;
};

describe('erasure job', () => {
  it('resumes after a crash mid-way and finishes everything exactly once', async () => {
    const user = await person();
    const request = await createRequest(database.db, {
      userId: user.id,
      kind: 'erasure',
      status: 'scheduled',
      effectiveAt: new Date(Date.now() - 1),
    });
    const exported = await createRequest(database.db, { userId: user.id, kind: 'access', status: 'completed' });
    writeFileSync(join(exportDir, `${exported.id}.json`), '{}');
    const crash = new Error('simulated crash');
    await expect(
      runErasure(
        {
          db: database.db,
          userKeys,
          exportDir,
          afterStep: (step) => {
            if (step === 'table:consent_records') throw crash;
          },
        },
        request.id,
      ),
    ).rejects.toBe(crash);
    // Half-way: the account is closed, consents gone, but the key and the users row are still there.
    expect((await database.db.select().from(users).where(eq(users.id, user.id)))[0]?.status).toBe('deleted');
    expect(await count('consent_records', user.id)).toBe(0);
    expect(await userKeys.isShredded(user.id)).toBe(false);
    expect(
      (await database.db.select().from(privacyRequests).where(eq(privacyRequests.id, request.id)))[0]?.status,
    ).toBe('processing');

    const resumed = await runErasure({ db: database.db, userKeys, exportDir }, request.id);
    expect(resumed.status).toBe('completed');
    expect(await userKeys.isShredded(user.id)).toBe(true);
    expect(await count('users', user.id, 'id')).toBe(0);
    const steps = await database.db
      .select()
      .from(privacyErasureSteps)
      .where(eq(privacyErasureSteps.requestId, request.id));
    expect(steps.map((s) => s.step)).toEqual(
      expect.arrayContaining(['account', 'sessions', 'exports', 'table:consent_records', 'key', 'table:users']),
    );
    expect(new Set(steps.map((s) => s.step)).size).toBe(steps.length);
    // Run again: nothing left to do, still completed.
    expect((await runErasure({ db: database.db, userKeys, exportDir }, request.id)).status).toBe('completed');
    expect(existsSync(join(exportDir, `${exported.id}.json`))).toBe(false);
  });

  it('does nothing during the grace period or after a cancellation', async () => {
    const user = await person();
    const request = await createRequest(database.db, {
      userId: user.id,
      kind: 'erasure',
      status: 'scheduled',
      effectiveAt: new Date(Date.now() + 7 * 86_400_000),
    });
    expect((await runErasure({ db: database.db, userKeys, exportDir }, request.id)).status).toBe('not_due');
    expect(await cancelErasure(database.db, user.id, request.id)).not.toBeNull();
    expect(
      (
        await runErasure(
          { db: database.db, userKeys, exportDir, now: () => new Date(Date.now() + 8 * 86_400_000) },
          request.id,
        )
      ).status,
    ).toBe('cancelled');
    expect(await count('users', user.id, 'id')).toBe(1);
    expect(await count('consent_records', user.id)).toBe(1);
    expect(await userKeys.isShredded(user.id)).toBe(false);
    // A cancelled request cannot be cancelled again, nor someone else's.
    expect(await cancelErasure(database.db, user.id, request.id)).toBeNull();
  });
});
