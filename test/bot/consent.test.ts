/**
 * Threat: processing for optional purposes before the person chose, pre-ticked boxes, a withdrawal harder than
 * the grant, or no proof of what was agreed. On first contact the bot asks per purpose (nothing ticked) and
 * holds everything but /start, /help and /privacy until the choice is saved; each decision sends a signed
 * receipt; withdrawing is one tap in /privacy; a changed purpose text asks again; usage is counted only with
 * consent.
 */
import { generateKeyPairSync } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '#shared/audit/index.ts';
import { consentRecords } from '#shared/db/schema-privacy.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import {
  CONSENT_PURPOSES,
  CONSENT_RECEIPT_TYPE,
  createPrivacyService,
  type PrivacyJob,
} from '#shared/privacy/index.ts';
import { createTokenSigner, type TokenSigner } from '#shared/tokens/jwt.ts';
import { ALICE, callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { type ApiCall, createTestBot, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

type Keyboard = { inline_keyboard: { text: string; callback_data?: string }[][] };
const buttons = (call: ApiCall | undefined) =>
  ((call?.payload.reply_markup as Keyboard | undefined)?.inline_keyboard ?? []).flat();

let database: TestDatabase;
let signer: TokenSigner;
let t: TestBot;
const jobs: PrivacyJob[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  const { privateKey } = generateKeyPairSync('ed25519');
  signer = await createTokenSigner({
    signingKeys: [privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer],
    issuer: 'tsp',
    audience: 'tsp-api',
  });
});
afterAll(async () => database.close());
beforeEach(async () => {
  await database.truncate();
  const privacy = createPrivacyService({
    db: database.db,
    signDocument: signer.signDocument,
    controller: {
      name: 'Example Ltd',
      contact: 'privacy@example.com',
      dpo: undefined,
      jurisdiction: 'EU',
      policyUrl: undefined,
    },
    audit: createAuditLog({ db: database.db }),
    enqueue: async (job) => {
      jobs.push(job);
    },
    erasureGraceDays: 7,
    publicUrl: undefined,
  });
  t = createTestBot({ db: database.db, privacy });
});

const usage = async (event: string) => {
  const result = await database.db.execute(
    sql`select coalesce(sum(count), 0)::int as n from usage_counters where event = ${event}`,
  );
  return (result as unknown as { rows: { n: number }[] }).rows[0]?.n;
};
const lastText = () => String(t.callsOf('sendMessage').at(-1)?.payload.text ?? '');

async function receiptPayload() {
  const call = t.callsOf('sendDocument').at(-1);
  expect(call, 'the receipt is sent as a document').toBeDefined();
  // The fake Bot API parses the upload: a file part (name and bytes) or, as grammY sends small buffers, its text.
  const document = call?.payload.document as { filename: string; bytes: Buffer } | string | undefined;
  const jws = typeof document === 'string' ? document : (document?.bytes.toString('utf8') ?? '');
  if (typeof document === 'object' && document.filename !== undefined) {
    expect(document.filename).toMatch(/^consent-receipt-.*\.jws$/);
  }
  const { payload } = await jwtVerify(jws, createLocalJWKSet(signer.jwks()), { typ: CONSENT_RECEIPT_TYPE });
  return payload as { services: { purposes: { purposeId: string; consentDecision: string }[] }[] };
}

describe('consent in the chat', () => {
  it('asks on first contact with nothing ticked, and holds other commands until the choice is saved', async () => {
    await t.handle(textMessage('/start'));
    const prompt = t.callsOf('sendMessage').at(-1);
    expect(String(prompt?.payload.text)).toContain('your privacy choices');
    const toggles = buttons(prompt).filter((b) => b.callback_data?.startsWith('cs:t:'));
    expect(toggles).toHaveLength(CONSENT_PURPOSES.length);
    for (const toggle of toggles) expect(toggle.text.startsWith('⬜')).toBe(true);
    expect(buttons(prompt).some((b) => b.callback_data === 'cs:s:0')).toBe(true);

    await t.handle(textMessage('/mydata'));
    expect(t.calls.some((c) => c.method === 'sendMessage' && String(c.payload.text).includes('Your data'))).toBe(false);
    expect(t.callsOf('sendMessage').some((c) => String(c.payload.text).includes('privacy choices first'))).toBe(true);
    await t.handle(textMessage('/help'));
    expect(lastText()).toContain('/privacy');
    await t.handle(textMessage('/privacy'));
    expect(lastText()).toContain('Your privacy');
    expect(await usage('command.help')).toBe(0);
  });

  it('saves the toggled choices, sends a signed receipt and counts usage only with consent', async () => {
    await t.handle(textMessage('/start'));
    await t.handle(callbackQuery('cs:t:1')); // analytics on (bit 0)
    const edited = t.callsOf('editMessageText').at(-1);
    expect(
      buttons(edited)
        .find((b) => b.callback_data === 'cs:t:0')
        ?.text.startsWith('☑️'),
    ).toBe(true);
    expect(buttons(edited).some((b) => b.callback_data === 'cs:s:1')).toBe(true);
    await t.handle(callbackQuery('cs:s:1'));
    const receipt = await receiptPayload();
    const decisions = Object.fromEntries(
      receipt.services[0]?.purposes.map((p) => [p.purposeId, p.consentDecision]) ?? [],
    );
    expect(decisions).toEqual({ analytics: 'granted', product_news: 'withdrawn' });

    await t.handle(textMessage('/help'));
    await t.handle(textMessage('/mydata'));
    expect(lastText()).toContain('Your data');
    expect(await usage('command.mydata')).toBe(1);

    // Withdrawing is one tap in /privacy, with a receipt; afterwards nothing is counted.
    await t.handle(textMessage('/privacy'));
    const view = t.callsOf('sendMessage').at(-1);
    const withdraw = buttons(view).find((b) => b.callback_data?.startsWith('pv:c:analytics:0:'));
    expect(withdraw?.callback_data).toMatch(/^pv:c:analytics:0:[A-Za-z0-9_-]{12}$/);
    await t.handle(callbackQuery(withdraw?.callback_data ?? ''));
    expect((await receiptPayload()).services[0]?.purposes[0]).toMatchObject({
      purposeId: 'analytics',
      consentDecision: 'withdrawn',
    });
    await t.handle(textMessage('/mydata'));
    expect(await usage('command.mydata')).toBe(1);
  });

  it('asks again when a purpose’s text changed version', async () => {
    await t.handle(textMessage('/start'));
    await t.handle(callbackQuery('cs:s:0'));
    await t.handle(textMessage('/mydata'));
    expect(lastText()).toContain('Your data');
    const alice = await findUserByTelegramId(database.db, ALICE.id);
    await database.db
      .update(consentRecords)
      .set({ purposeVersion: 'old' })
      .where(eq(consentRecords.userId, alice?.id ?? ''));
    await t.handle(textMessage('/mydata'));
    expect(lastText()).toContain('Our privacy choices changed');
  });
});
