/**
 * Consent must be provable and must gate processing: each decision is an append-only record with a signed
 * Kantara receipt; a changed purpose text asks again; and no analytics record is written without consent, after
 * withdrawal, or while processing is restricted.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { consentRecords, usageCounters } from '#shared/db/schema-privacy.ts';
import {
  CONSENT_PURPOSES,
  CONSENT_RECEIPT_TYPE,
  CONSENT_RECEIPT_VERSION,
  countUsage,
  hasCurrentConsentDecisions,
  listPurposes,
  mayProcess,
  purposeVersion,
  recordConsent,
  setObjection,
  setRestriction,
} from '#shared/privacy/index.ts';
import { createTokenSigner, type TokenSigner } from '#shared/tokens/jwt.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

const controller = {
  name: 'Example Ltd',
  contact: 'privacy@example.com',
  dpo: 'dpo@example.com',
  jurisdiction: 'DE',
  policyUrl: 'https://sec.example.com/privacy',
};
let database: TestDatabase;
let signer: TokenSigner;

beforeAll(async () => {
  database = await createTestDatabase();
  const { privateKey } = generateKeyPairSync('ed25519');
  signer = await createTokenSigner({
    signingKeys: [privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer],
    issuer: 'https://sec.example.com',
    audience: 'tsp-api',
  });
});
afterAll(async () => database.close());
beforeEach(async () => database.truncate());

const deps = () => ({ db: database.db, signDocument: signer.signDocument, controller });

describe('consent', () => {
  it('starts with nothing granted and asks for every consent purpose', async () => {
    const userId = randomUUID();
    const purposes = await listPurposes(database.db, userId);
    for (const purpose of purposes.filter((p) => p.legalBasis === 'consent')) {
      expect(purpose.granted).toBe(false); // none pre-ticked
      expect(purpose.decided).toBe(false);
    }
    expect(await hasCurrentConsentDecisions(database.db, userId)).toBe(false);
  });

  it('records each decision append-only and signs a Kantara 1.1 receipt', async () => {
    const userId = randomUUID();
    const granted = await recordConsent(deps(), {
      userId,
      decisions: CONSENT_PURPOSES.map((purposeId) => ({ purposeId, granted: purposeId === 'analytics' })),
      method: 'bot',
      source: 'bot',
    });
    const { payload, protectedHeader } = await jwtVerify(granted.jws, createLocalJWKSet(signer.jwks()), {
      issuer: 'https://sec.example.com',
      typ: CONSENT_RECEIPT_TYPE,
    });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({
      version: CONSENT_RECEIPT_VERSION,
      jurisdiction: 'DE',
      consentReceiptID: granted.receiptId,
      piiPrincipalId: userId,
      collectionMethod: 'Telegram bot conversation',
      piiControllers: [{ piiController: 'Example Ltd', contact: 'dpo@example.com' }],
      policyUrl: 'https://sec.example.com/privacy',
      sensitive: false,
    });
    const purposes =
      (payload.services as { purposes: { purposeId: string; consentDecision: string; purposeVersion: string }[] }[])[0]
        ?.purposes ?? [];
    expect(purposes.find((p) => p.purposeId === 'analytics')).toMatchObject({
      consentDecision: 'granted',
      purposeVersion: purposeVersion('analytics'),
    });
    expect(purposes.find((p) => p.purposeId === 'product_news')?.consentDecision).toBe('withdrawn');
    expect(await hasCurrentConsentDecisions(database.db, userId)).toBe(true);

    await recordConsent(deps(), {
      userId,
      decisions: [{ purposeId: 'analytics', granted: false }],
      method: 'api',
      source: 'api',
    });
    const rows = await database.db.select().from(consentRecords).where(eq(consentRecords.userId, userId));
    expect(
      rows
        .filter((row) => row.purposeId === 'analytics')
        .map((row) => row.granted)
        .sort(),
    ).toEqual([false, true]);
    expect((await listPurposes(database.db, userId)).find((p) => p.id === 'analytics')?.granted).toBe(false);
  });

  it('refuses consent for essential or unknown purposes', async () => {
    const userId = randomUUID();
    await expect(
      recordConsent(deps(), {
        userId,
        decisions: [{ purposeId: 'security', granted: false }],
        method: 'api',
        source: 'api',
      }),
    ).rejects.toMatchObject({ code: 'PURPOSE_REQUIRED' });
    await expect(
      recordConsent(deps(), {
        userId,
        decisions: [{ purposeId: 'nope', granted: true }],
        method: 'api',
        source: 'api',
      }),
    ).rejects.toMatchObject({ code: 'PURPOSE_NOT_FOUND' });
  });

  it('asks again when a purpose’s text changed version', async () => {
    const userId = randomUUID();
    await recordConsent(deps(), {
      userId,
      decisions: CONSENT_PURPOSES.map((purposeId) => ({ purposeId, granted: true })),
      method: 'bot',
      source: 'bot',
    });
    expect(await mayProcess(database.db, userId, 'analytics')).toBe(true);
    // As if the analytics text had been changed since: the stored decision is for an older version.
    await database.db
      .update(consentRecords)
      .set({ purposeVersion: 'older-version' })
      .where(eq(consentRecords.purposeId, 'analytics'));
    expect(await hasCurrentConsentDecisions(database.db, userId)).toBe(false);
    expect(await mayProcess(database.db, userId, 'analytics')).toBe(false);
  });

  it('writes no analytics record without consent, after withdrawal or while restricted', async () => {
    const userId = randomUUID();
    const count = async () =>
      (await database.db.select().from(usageCounters).where(eq(usageCounters.userId, userId))).reduce(
        (sum, row) => sum + row.count,
        0,
      );
    expect(await countUsage(database.db, userId, 'command.help')).toBe(false);
    expect(await count()).toBe(0);
    await recordConsent(deps(), {
      userId,
      decisions: [{ purposeId: 'analytics', granted: true }],
      method: 'bot',
      source: 'bot',
    });
    expect(await countUsage(database.db, userId, 'command.help')).toBe(true);
    expect(await countUsage(database.db, userId, 'command.help')).toBe(true);
    expect(await count()).toBe(2);
    await setRestriction(database.db, userId, true);
    expect(await countUsage(database.db, userId, 'command.help')).toBe(false);
    await setRestriction(database.db, userId, false);
    await recordConsent(deps(), {
      userId,
      decisions: [{ purposeId: 'analytics', granted: false }],
      method: 'bot',
      source: 'bot',
    });
    expect(await countUsage(database.db, userId, 'command.help')).toBe(false);
    expect(await count()).toBe(2);
    const other = await database.db.execute(
      sql`select count(*)::int as n from usage_counters where user_id <> ${userId}`,
    );
    expect((other as unknown as { rows: { n: number }[] }).rows[0]?.n).toBe(0);
  });

  it('lets a person object to an optional legitimate-interest purpose, never to security', async () => {
    const userId = randomUUID();
    expect(await mayProcess(database.db, userId, 'security_tips')).toBe(true);
    await setObjection(database.db, userId, 'security_tips', true);
    expect(await mayProcess(database.db, userId, 'security_tips')).toBe(false);
    await setObjection(database.db, userId, 'security_tips', false);
    expect(await mayProcess(database.db, userId, 'security_tips')).toBe(true);
    await expect(setObjection(database.db, userId, 'security', true)).rejects.toMatchObject({
      code: 'OBJECTION_OVERRIDDEN',
    });
  });
});
