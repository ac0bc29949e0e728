/**
 * Threat: callback data is whatever a client sends. The schema layer must refuse anything that is not exactly a
 * declared button (wrong prefix, missing or extra parts, bytes outside the safe set, oversized), and a nonce
 * must work once, only for the person and the action it was issued for, and only until it expires. Nonces run
 * against the real Redis.
 */
import { eq } from 'drizzle-orm';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  arg,
  ButtonRegistry,
  buildData,
  button,
  CALLBACK_DATA_MAX_BYTES,
  CALLBACK_REJECTED_ACTION,
  type Callbacks,
  consumeNonce,
  createCallbacks,
  issueNonce,
  type NonceStore,
  parseData,
  takeNonce,
} from '#bot/callbacks.ts';
import type { Context } from '#bot/context.ts';
import { translator } from '#bot/i18n/index.ts';
import { createAuditLog } from '#shared/audit/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { createLogger } from '#shared/logger.ts';
import { ALICE, BOB, type FixtureUser } from '#test/fixtures/updates.ts';
import { createTestBot, TEST_BOT_INFO, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

const ID = '0b8f3c2e-4d5a-4f6b-9c7d-8e9fa0b1c2d3';
const REVOKE = button('ak:rev!', [arg.uuid()], { nonce: true });
const EXTEND = button('dsr:x', [arg.uuid(), arg.oneOf(['1', '2'])]);
const PAGE = button('pg', [arg.int(0, 99)]);
const PURPOSE = button('pv:o', [arg.text(/[a-z][a-z0-9_]{0,31}/), arg.oneOf(['0', '1'])]);
const CHALLENGE = button('jc', [arg.int(0, 9)], { bound: true });

let redis: TestRedis;
let database: TestDatabase;
let store: NonceStore;
beforeAll(async () => {
  [redis, database] = await Promise.all([createTestRedis(), createTestDatabase()]);
  store = { redis: redis.client, redisPrefix: redis.prefix };
});
afterAll(async () => {
  await redis.close();
  await database.close();
});

describe('builder and parser', () => {
  it('round-trips typed arguments', () => {
    const data = buildData(EXTEND, [ID, '2']);
    expect(data).toBe(`dsr:x:${ID}:2`);
    expect(parseData(EXTEND, data)).toMatchObject({ args: [ID, '2'], action: data });
    expect(parseData(PAGE, buildData(PAGE, [42]))?.args).toEqual([42]);
    expect(parseData(PURPOSE, 'pv:o:product_news:1')?.args).toEqual(['product_news', '1']);
  });

  it('binds a group button to its owner with a tag', () => {
    const data = buildData(CHALLENGE, [3], { owner: 5_000_001 });
    expect(data).toBe(`jc:3:~${(5_000_001).toString(36)}`);
    expect(parseData(CHALLENGE, data)).toMatchObject({ args: [3], owner: 5_000_001 });
    expect(() => buildData(CHALLENGE, [3])).toThrow(/owner/);
    // A tag that is not canonical base 36 (leading zeros, capitals) is not one the bot wrote.
    expect(parseData(CHALLENGE, `jc:3:~0${(5_000_001).toString(36)}`)).toBeUndefined();
    expect(parseData(CHALLENGE, 'jc:3:~ABC')).toBeUndefined();
    expect(parseData(CHALLENGE, 'jc:3')).toBeUndefined();
  });

  it.each([
    ['wrong prefix', `ak:rev:${ID}`],
    ['prefix only as a substring', `xdsr:x:${ID}:1`],
    ['missing part', `dsr:x:${ID}`],
    ['extra part', `dsr:x:${ID}:1:1`],
    ['empty part', `dsr:x::1`],
    ['trailing separator', `dsr:x:${ID}:1:`],
    ['uppercase uuid', `dsr:x:${ID.toUpperCase()}:1`],
    ['not in the enum', `dsr:x:${ID}:3`],
    ['space', `dsr:x:${ID}: 1`],
    ['newline', `dsr:x:${ID}:1\n`],
    ['NUL byte', `dsr:x:${ID}:1\u0000`],
    ['replacement character (non-UTF-8 bytes)', `dsr:x:${ID}:\uFFFD`],
    ['lone surrogate', `dsr:x:${ID}:\uD800`],
    ['emoji', `dsr:x:${ID}:1😀`],
    ['SQL', `dsr:x:' OR 1=1 --:1`],
    ['empty', ''],
  ])('rejects %s', (_name, data) => {
    expect(parseData(EXTEND, data)).toBeUndefined();
  });

  it('rejects integers that are not canonical or out of range', () => {
    for (const raw of ['042', '+1', '-1', '100', '1e1', '0x1', '1.0', '９'])
      expect(parseData(PAGE, `pg:${raw}`), raw).toBeUndefined();
    expect(parseData(PAGE, 'pg:0')?.args).toEqual([0]);
  });

  it('rejects oversized data, and refuses to build it', () => {
    const long = button('pv:o', [arg.text(/[a-z][a-z0-9_]{0,80}/), arg.oneOf(['0', '1'])]);
    const ok = `pv:o:${'a'.repeat(CALLBACK_DATA_MAX_BYTES - 7)}:1`;
    expect(Buffer.byteLength(ok)).toBe(CALLBACK_DATA_MAX_BYTES);
    expect(parseData(long, ok)).toBeDefined();
    expect(parseData(long, `pv:o:${'a'.repeat(CALLBACK_DATA_MAX_BYTES - 6)}:1`)).toBeUndefined();
    expect(() => buildData(long, ['a'.repeat(60), '1'])).toThrow(/64 bytes/);
    expect(parseData(long, 'x'.repeat(10_000))).toBeUndefined();
  });

  it('rejects values that are not strings', () => {
    for (const value of [undefined, null, 42, {}, ['dsr:x']]) expect(parseData(EXTEND, value)).toBeUndefined();
  });

  it('needs a well-formed nonce on destructive buttons', () => {
    expect(() => buildData(REVOKE, [ID])).toThrow(/nonce/);
    expect(parseData(REVOKE, `ak:rev!:${ID}`)).toBeUndefined();
    expect(parseData(REVOKE, `ak:rev!:${ID}:short`)).toBeUndefined();
    expect(parseData(REVOKE, `ak:rev!:${ID}:abc$def%ghi`)).toBeUndefined();
    expect(parseData(REVOKE, `ak:rev!:${ID}:AbCdEfGhIjKl`)).toMatchObject({
      args: [ID],
      action: `ak:rev!:${ID}`,
      nonce: 'AbCdEfGhIjKl',
    });
  });

  it('finds the kind data claims by its longest prefix', () => {
    const registry = new ButtonRegistry().add(REVOKE, button('ak:rev', [arg.uuid()]), EXTEND);
    expect(registry.claimed(`ak:rev:${ID}`)?.prefix).toBe('ak:rev');
    expect(registry.claimed(`ak:rev!:${ID}:x`)?.prefix).toBe('ak:rev!');
    expect(registry.claimed('ak:revx')).toBeUndefined();
    expect(registry.parse(`dsr:x:${ID}:1`)?.kind).toBe(EXTEND);
    expect(registry.parse(`dsr:x:${ID}:9`)).toBeUndefined();
    expect(() => registry.add(button('dsr:x', []))).toThrow(/twice/);
    // The same button declared again (another module) is the same kind.
    expect(() => registry.add(button('dsr:x', [arg.uuid(), arg.oneOf(['1', '2'])]))).not.toThrow();
  });

  it('refuses a prefix that could be confused with data', () => {
    expect(() => button('ak rev', [])).toThrow();
    expect(() => button('ak:', [])).toThrow();
    expect(() => button('AK', [])).toThrow();
  });
});

describe('nonces', () => {
  const action = `ak:rev!:${ID}`;

  it('are short base64url strings, each different', async () => {
    const nonces = await Promise.all(Array.from({ length: 20 }, () => issueNonce(store, { telegramId: 1, action })));
    for (const nonce of nonces) expect(nonce).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(new Set(nonces).size).toBe(20);
  });

  it('work exactly once, even when tapped twice at the same moment', async () => {
    const nonce = await issueNonce(store, { telegramId: 7, action });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => consumeNonce(store, { telegramId: 7, action, nonce })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await consumeNonce(store, { telegramId: 7, action, nonce })).toBe(false);
  });

  it('are bound to the person: someone else gets nothing and does not burn the owner’s', async () => {
    const nonce = await issueNonce(store, { telegramId: 7, action });
    expect(await takeNonce(store, { telegramId: 8, action, nonce })).toBe('wrong_user');
    expect(await consumeNonce(store, { telegramId: 8, action, nonce })).toBe(false);
    expect(await consumeNonce(store, { telegramId: 7, action, nonce })).toBe(true);
  });

  it('are bound to the action: a nonce for one key cannot revoke another', async () => {
    const nonce = await issueNonce(store, { telegramId: 7, action });
    const other = `ak:rev!:${ID.replace(/.$/, '4')}`;
    expect(await takeNonce(store, { telegramId: 7, action: other, nonce })).toBe('wrong_action');
    expect(await consumeNonce(store, { telegramId: 7, action: 'sess:end-all', nonce })).toBe(false);
    expect(await consumeNonce(store, { telegramId: 7, action, nonce })).toBe(true);
  });

  it('expire', async () => {
    const nonce = await issueNonce(store, { telegramId: 7, action, ttlSeconds: 1 });
    expect(await redis.client.ttl(`${redis.prefix}:cbn:${nonce}`)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await takeNonce(store, { telegramId: 7, action, nonce })).toBe('unknown');
  });

  it('default to ten minutes', async () => {
    const nonce = await issueNonce(store, { telegramId: 7, action });
    const ttl = await redis.client.ttl(`${redis.prefix}:cbn:${nonce}`);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it('refuse made-up or malformed values without touching other keys', async () => {
    expect(await takeNonce(store, { telegramId: 7, action, nonce: 'AAAAAAAAAAAA' })).toBe('unknown');
    // A value that would escape the key space is never looked up.
    expect(await takeNonce(store, { telegramId: 7, action, nonce: '*' })).toBe('unknown');
    expect(await takeNonce(store, { telegramId: 7, action, nonce: '../x:y' })).toBe('unknown');
  });
});

describe('handling taps in a bot', () => {
  const GROUP = { id: -100_777, type: 'supergroup' as const, title: 'Team' };
  let recorder: TestBot;
  let callbacks: Callbacks;
  let bot: Bot<Context>;
  let pressed: { kind: string; by: number; args: unknown[] }[];
  let updateId = 1;

  /** A tap on a button of a group message (anyone in the group can press it). */
  const groupTap = (data: string, from: FixtureUser): Update =>
    ({
      update_id: updateId++,
      callback_query: {
        id: String(updateId),
        from: { is_bot: false, ...from },
        chat_instance: '-1',
        data,
        message: { message_id: 1, date: Math.floor(Date.now() / 1000), chat: GROUP, text: 'challenge' },
      },
    }) as Update;

  const events = async () =>
    (await database.db.select().from(auditLog).where(eq(auditLog.action, CALLBACK_REJECTED_ACTION))).map(
      (row) => row.reasonCode,
    );
  const answers = () => recorder.callsOf('answerCallbackQuery').map((call) => call.payload.text);

  function buildBot(withRedis: boolean) {
    recorder = createTestBot({ db: database.db });
    callbacks = createCallbacks({
      db: database.db,
      audit: createAuditLog({ db: database.db }),
      logger: createLogger({ level: 'silent' }),
      ...(withRedis ? { redis: redis.client, redisPrefix: `${redis.prefix}:${updateId}` } : {}),
    });
    bot = new Bot<Context>(TEST_BOT_TOKEN, { botInfo: TEST_BOT_INFO, client: { fetch: recorder.fetch } });
    bot.use((ctx, next) => {
      ctx.locale = 'en';
      ctx.t = translator('en');
      return next();
    });
    pressed = [];
    callbacks.handle(bot, CHALLENGE, (ctx, args) => {
      pressed.push({ kind: 'jc', by: ctx.from.id, args });
    });
    callbacks.handle(bot, REVOKE, (ctx, args) => {
      pressed.push({ kind: 'revoke', by: ctx.from.id, args });
    });
    bot.use(callbacks.fallback());
    bot.on('callback_query', (ctx) => ctx.answerCallbackQuery({ text: 'stale' }));
  }

  beforeEach(async () => {
    await database.truncate();
    const keys = await redis.client.keys(`${redis.prefix}*cb-rejected*`);
    if (keys.length > 0) await redis.client.del(...keys);
    buildBot(true);
  });

  it('lets only the bound person press a group button', async () => {
    const data = callbacks.data(CHALLENGE, [4], { owner: ALICE.id });
    await bot.handleUpdate(groupTap(data, BOB));
    expect(pressed).toEqual([]);
    expect(answers()).toEqual(['This button is no longer active.']);
    expect(await events()).toEqual(['WRONG_USER']);

    await bot.handleUpdate(groupTap(data, ALICE));
    expect(pressed).toEqual([{ kind: 'jc', by: ALICE.id, args: [4] }]);
  });

  it('runs a destructive button once, for its person only, in a group too', async () => {
    const data = await callbacks.issueData(REVOKE, [ID], ALICE.id);
    expect(data).toMatch(new RegExp(`^ak:rev!:${ID}:[A-Za-z0-9_-]{12}$`));
    await bot.handleUpdate(groupTap(data, BOB));
    await bot.handleUpdate(groupTap(data, ALICE));
    await bot.handleUpdate(groupTap(data, ALICE));
    expect(pressed).toEqual([{ kind: 'revoke', by: ALICE.id, args: [ID] }]);
    expect(answers()).toEqual(['This button is no longer active.', 'This button is no longer active.']);
    // One event per person and minute: Bob's and Alice's.
    expect((await events()).sort()).toEqual(['NONCE_INVALID', 'WRONG_USER']);
  });

  it('writes one event for a flood of forged taps, and none for a stale but well-formed button', async () => {
    for (let i = 0; i < 20; i++) await bot.handleUpdate(groupTap(`jc:${i}:~Zz`, BOB));
    expect(await events()).toEqual(['MALFORMED']);
    expect(new Set(answers())).toEqual(new Set(['This button is no longer active.']));

    // Declared elsewhere and not handled here (a conversation's Cancel after it ended): the stale answer only.
    await bot.handleUpdate(groupTap('conv:cancel', ALICE));
    await bot.handleUpdate(groupTap('help', ALICE));
    expect(answers().slice(-2)).toEqual(['stale', 'stale']);
    // Data of no declared kind at all is forged.
    await bot.handleUpdate(groupTap('rm -rf', ALICE));
    expect(answers().at(-1)).toBe('This button is no longer active.');
    expect((await events()).sort()).toEqual(['MALFORMED', 'MALFORMED']);
  });

  it('keeps nonces single-use without Redis (in this process)', async () => {
    buildBot(false);
    const data = await callbacks.issueData(REVOKE, [ID], ALICE.id);
    await bot.handleUpdate(groupTap(data, BOB));
    await bot.handleUpdate(groupTap(data, ALICE));
    await bot.handleUpdate(groupTap(data, ALICE));
    expect(pressed).toEqual([{ kind: 'revoke', by: ALICE.id, args: [ID] }]);
    expect((await events()).sort()).toEqual(['NONCE_INVALID', 'WRONG_USER']);
  });
});
