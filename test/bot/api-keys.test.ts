/**
 * Threat: through the bot, someone manages another person's keys by replaying or forging button data, a key
 * is revoked by one stray tap, or a key is shown again after creation. /apikeys works in private chats only,
 * every button is checked against the tapping person's own keys, revocation needs a second tap, and the key
 * appears once, in the message that creates it.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { issueNonce } from '#bot/callbacks.ts';
import { defaultScopes } from '#shared/api-keys/index.ts';
import { users } from '#shared/db/schema.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { ALICE, BOB, callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { type ApiKeyFixture, createApiKeyFixture } from '#test/helpers/api-keys.ts';
import { createTestBot, type TestBot } from '#test/helpers/create-test-bot.ts';

type Keyboard = { inline_keyboard: { text: string; callback_data?: string }[][] };

let f: ApiKeyFixture;
let t: TestBot;
beforeAll(async () => {
  f = await createApiKeyFixture();
});
beforeEach(async () => {
  await f.reset();
  t = createTestBot({ db: f.database.db, apiKeys: f.service, redis: f.redis.client, redisPrefix: f.redis.prefix });
  await t.handle(textMessage('/start', ALICE));
  await t.handle(textMessage('/start', BOB));
  t.calls.length = 0;
});
afterAll(async () => {
  await f.close();
});

async function userIdOf(telegramId: number): Promise<string> {
  const row = await findUserByTelegramId(f.database.db, telegramId);
  if (!row) throw new Error('no such user');
  return row.id;
}

function lastSent() {
  const sent = t.callsOf('sendMessage').at(-1);
  if (!sent) throw new Error('nothing sent');
  return { text: String(sent.payload.text), payload: sent.payload, buttons: buttonsOf(sent.payload) };
}

function buttonsOf(payload: Record<string, unknown>) {
  return ((payload.reply_markup as Keyboard | undefined)?.inline_keyboard ?? []).flat();
}

/** The data of the button labelled `text` in the bot's last message. */
function dataOf(text: string): string {
  const data = lastSent().buttons.find((button) => button.text === text)?.callback_data;
  if (!data) throw new Error(`no button ${text}`);
  return data;
}

/** Data with a nonce as the bot issues them (bot/callbacks.ts), for a person who never got such a button. */
async function issuedData(action: string, telegramId: number): Promise<string> {
  return `${action}:${await issueNonce({ redis: f.redis.client, redisPrefix: f.redis.prefix }, { telegramId, action })}`;
}

const nonced = (action: string) => expect.stringMatching(new RegExp(`^${action}:[A-Za-z0-9_-]{12}$`));

/** The key in a "new key" message (inside <code>). */
function keyIn(text: string): string {
  const match = /<code>(tsp_[0-9A-Za-z]{36})<\/code>/.exec(text);
  if (!match?.[1]) throw new Error(`no key in: ${text}`);
  return match[1];
}

async function tapNewKey(from = ALICE, data = 'ak:new') {
  await t.handle(callbackQuery(data, from));
  return keyIn(lastSent().text);
}

describe('/apikeys', () => {
  it('lists no keys at first and offers both kinds of new key', async () => {
    await t.handle(textMessage('/apikeys', ALICE));
    const { text, payload, buttons } = lastSent();
    expect(payload.parse_mode).toBe('HTML');
    expect(text).toMatch(/^🔑 <b>Your API keys<\/b>\n\nYou have no API keys yet\./);
    expect(buttons).toEqual([
      { text: '➕ New key', callback_data: 'ak:new' },
      { text: '➕ New read-only key', callback_data: 'ak:new-ro' },
    ]);
  });

  it('creates a key with the person’s non-admin permissions, shows it once in <code> with a warning', async () => {
    const key = await tapNewKey();
    const { text, payload } = lastSent();
    expect(payload.parse_mode).toBe('HTML');
    expect(text).toContain('<b>New API key “Key 1”</b> (full access');
    expect(text).toContain('⚠️ Copy it now and keep it somewhere safe: this is the only time I can show it.');
    expect(t.callsOf('answerCallbackQuery')).toHaveLength(1);

    const result = await f.service.authenticate(key, '198.51.100.7');
    expect(result).toMatchObject({ ok: true, principal: { permissions: defaultScopes('user') } });
    const aliceId = await userIdOf(ALICE.id);
    expect(f.notifications).toEqual([{ kind: 'api-key-created', userId: aliceId, keyId: expect.any(String) }]);

    // The list shows the display prefix, never the key again.
    await t.handle(textMessage('/apikeys', ALICE));
    const list = lastSent();
    expect(list.text).toContain(`1. <b>Key 1</b> <code>${key.slice(0, 8)}…${key.slice(-4)}</code>`);
    expect(list.text).toContain('full access · expires');
    expect(list.text).toContain('last used 2026-06-01 12:00 UTC');
    expect(list.text).not.toContain(key.slice(8, -4));
    expect(list.buttons.map((button) => button.text)).toEqual([
      '🔄 Rotate 1',
      '🗑 Revoke 1',
      '➕ New key',
      '➕ New read-only key',
    ]);
  });

  it('creates a read-only key on the second button, named after the keys already there', async () => {
    await tapNewKey();
    const key = await tapNewKey(ALICE, 'ak:new-ro');
    expect(lastSent().text).toContain('<b>New API key “Key 2”</b> (read-only');
    const result = await f.service.authenticate(key, '198.51.100.7');
    if (!result.ok) throw new Error(result.reason);
    expect(result.principal.permissions.length).toBeGreaterThan(0);
    expect(result.principal.permissions.every((permission) => permission.endsWith(':read'))).toBe(true);
  });

  it('rotates: a new key shown once, the old one working until the grace ends', async () => {
    const oldKey = await tapNewKey();
    const [view] = await f.service.list(await userIdOf(ALICE.id));
    f.clock.advance(60_000);
    await t.handle(textMessage('/apikeys', ALICE));
    const rotate = dataOf('🔄 Rotate 1');
    expect(rotate).toEqual(nonced(`ak:rot:${view?.id}`));
    await t.handle(callbackQuery(rotate, ALICE));
    const { text } = lastSent();
    const newKey = keyIn(text);
    expect(newKey).not.toBe(oldKey);
    expect(text).toContain('keeps working until 2026-06-02 12:01 UTC');
    expect((await f.service.authenticate(oldKey, '198.51.100.7')).ok).toBe(true);
    expect((await f.service.authenticate(newKey, '198.51.100.7')).ok).toBe(true);

    await t.handle(textMessage('/apikeys', ALICE));
    const list = lastSent();
    // Newest first: the new key is 1, the old one 2, marked as replaced.
    expect(list.text).toMatch(/1\. <b>Key 1<\/b> <code>[^<]+<\/code>\nfull access/);
    expect(list.text).toContain('2. <b>Key 1</b>');
    expect(list.text).toContain('(replaced: works until 2026-06-02 12:01 UTC)');
    // Only the active key can be rotated again; both can be revoked.
    expect(list.buttons.map((button) => button.text)).toEqual([
      '🔄 Rotate 1',
      '🗑 Revoke 1',
      '🗑 Revoke 2',
      '➕ New key',
      '➕ New read-only key',
    ]);
  });

  it('revokes only after a second tap, and cancel keeps the key', async () => {
    const key = await tapNewKey();
    const [view] = await f.service.list(await userIdOf(ALICE.id));
    if (!view) throw new Error('fixture');

    await t.handle(textMessage('/apikeys', ALICE));
    await t.handle(callbackQuery(dataOf('🗑 Revoke 1'), ALICE));
    const ask = lastSent();
    expect(ask.text).toContain('Revoke <b>Key 1</b>');
    expect(ask.buttons).toEqual([
      { text: '🗑 Yes, revoke it', callback_data: nonced(`ak:rev!:${view.id}`) },
      { text: 'Cancel', callback_data: 'ak:cancel' },
    ]);
    const [confirm, cancel] = ask.buttons.map((button) => button.callback_data ?? '');
    expect((await f.service.authenticate(key, '198.51.100.7')).ok).toBe(true);

    await t.handle(callbackQuery(cancel ?? '', ALICE));
    expect(t.callsOf('editMessageText').at(-1)?.payload.text).toBe('Nothing changed: the key still works.');
    expect((await f.service.authenticate(key, '198.51.100.7')).ok).toBe(true);

    await t.handle(callbackQuery(confirm ?? '', ALICE));
    const edited = t.callsOf('editMessageText').at(-1)?.payload;
    expect(edited?.text).toBe(`🗑 Revoked <b>Key 1</b> <code>${view.displayPrefix}</code>. It no longer works.`);
    expect(await f.service.authenticate(key, '198.51.100.7')).toEqual({ ok: false, reason: 'API_KEY_REVOKED' });
    expect(f.notifications.map((job) => job.kind)).toEqual(['api-key-created', 'api-key-revoked']);
  });

  it('treats buttons naming someone else’s key as gone: nothing is rotated or revoked', async () => {
    const key = await tapNewKey(ALICE);
    const [view] = await f.service.list(await userIdOf(ALICE.id));
    // Even data carrying Bob's own valid nonces (he can never get such buttons) finds no key of his.
    const forged = [
      await issuedData(`ak:rot:${view?.id}`, BOB.id),
      `ak:rev:${view?.id}`,
      await issuedData(`ak:rev!:${view?.id}`, BOB.id),
    ];
    t.calls.length = 0;
    for (const data of forged) {
      await t.handle(callbackQuery(data, BOB));
    }
    const answers = t.callsOf('answerCallbackQuery').map((call) => call.payload);
    expect(answers).toHaveLength(3);
    for (const answer of answers) {
      expect(answer).toMatchObject({
        text: 'That key no longer exists. Send /apikeys to see your keys.',
        show_alert: true,
      });
    }
    expect(t.callsOf('sendMessage')).toHaveLength(0);
    expect(t.callsOf('editMessageText')).toHaveLength(0);
    expect((await f.service.authenticate(key, '198.51.100.7')).ok).toBe(true);
    expect(await f.service.list(await userIdOf(ALICE.id))).toHaveLength(1);
  });

  it('escapes names set through the API', async () => {
    await f.service.create({ userId: await userIdOf(ALICE.id), name: '<b>ci</b> & "co"', source: 'api' });
    await t.handle(textMessage('/apikeys', ALICE));
    expect(lastSent().text).toContain('<b>&lt;b&gt;ci&lt;/b&gt; &amp; &quot;co&quot;</b>');
  });

  it('shows a read-only person their keys without buttons that change them, and refuses those taps', async () => {
    await f.database.db
      .update(users)
      .set({ role: 'readonly' })
      .where(eq(users.id, await userIdOf(ALICE.id)));
    await t.handle(textMessage('/apikeys', ALICE));
    const { text, buttons } = lastSent();
    expect(text).toContain('Your role can see API keys but not create or change them.');
    expect(buttons).toEqual([]);
    await t.handle(callbackQuery('ak:new', ALICE));
    expect(t.callsOf('answerCallbackQuery').at(-1)?.payload).toMatchObject({
      text: 'Your account cannot manage API keys.',
      show_alert: true,
    });
    expect(await f.service.list(await userIdOf(ALICE.id))).toEqual([]);
  });

  it('asks someone unknown to /start first, and never handles /apikeys in a group', async () => {
    const stranger = { id: 5_000_999, first_name: 'Mallory', language_code: 'en' };
    await t.handle(textMessage('/apikeys', stranger));
    expect(lastSent().text).toBe('Send /start first, then /apikeys.');
    t.calls.length = 0;
    await t.handle(textMessage('/apikeys', ALICE, { id: -100123, type: 'supergroup', title: 'Team' }));
    // The command guard (bot/middleware/command-guard.ts): only a pointer to the private chat, no keys, no buttons.
    expect(t.callsOf('sendMessage').map((call) => call.payload.text)).toEqual([
      'This command works only in a private chat with me.',
    ]);
    expect(JSON.stringify(t.callsOf('sendMessage')[0]?.payload.reply_markup ?? {})).not.toContain('ak:');
  });
});
