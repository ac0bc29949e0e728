/**
 * Threat: updates forged by someone who learned the webhook secret, posting from outside Telegram's network.
 * With TELEGRAM_WEBHOOK_SOURCE_CHECK=on only Telegram's published ranges (149.154.160.0/20, 91.108.4.0/22) may
 * post; the address is request.ip, so a spoofed X-Forwarded-For counts only from a proxy TRUST_PROXY names.
 * Also: a reply-only command's answer travels in the webhook response, with no Bot API request of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTelegramSource } from '#server/routes/telegram/index.ts';
import { parseConfig } from '#shared/config/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';
import { createTestRedis, type TestRedis } from '#test/helpers/test-redis.ts';

const TELEGRAM_IP = '149.154.167.220';
const OUTSIDE_IP = '198.51.100.7';

let database: TestDatabase;
let redis: TestRedis;
let testBot: TestBot;
const apps: TestApp[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
  redis = await createTestRedis();
  testBot = createTestBot({ db: database.db, redis: redis.client, redisPrefix: redis.prefix });
});
afterAll(async () => {
  for (const app of apps) await app.close();
  await redis.close();
  await database.close();
});

async function build(env: Record<string, string>): Promise<TestApp> {
  const t = await buildTestApp({
    database,
    bot: testBot.bot,
    ...(apps[0] ? { secrets: apps[0].secrets } : {}),
    env: { BOT_MODE: 'webhook', ...env },
  });
  apps.push(t);
  return t;
}

const post = (t: TestApp, remoteAddress: string, text = '/start', headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: '/telegram/webhook',
    remoteAddress,
    headers: { 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret, ...headers },
    payload: textMessage(text) as object,
  });

const rejections = async () =>
  (await database.db.select().from(auditLog)).filter(
    (row) => row.action === 'security.webhook_rejected' && row.reasonCode === 'WEBHOOK_SOURCE_FORBIDDEN',
  );

describe('Telegram source ranges', () => {
  it('knows the published ranges, IPv4-mapped IPv6 included, and nothing else', () => {
    for (const ip of ['149.154.160.1', '149.154.175.254', '91.108.4.1', '91.108.7.254', '::ffff:149.154.167.1'])
      expect(isTelegramSource(ip), ip).toBe(true);
    for (const ip of ['149.154.176.1', '149.154.159.255', '91.108.8.1', '127.0.0.1', '2001:67c:4e8::1', 'x'])
      expect(isTelegramSource(ip), ip).toBe(false);
  });

  it('is off by default: any address with the right secret is served', async () => {
    const t = await build({});
    expect((await post(t, OUTSIDE_IP)).statusCode).toBe(200);
  });

  it('when on, serves Telegram’s addresses and refuses others with 403 and one security event a minute', async () => {
    const t = await build({ TELEGRAM_WEBHOOK_SOURCE_CHECK: 'on' });
    const before = testBot.callsOf('sendMessage').length;
    expect((await post(t, TELEGRAM_IP)).statusCode).toBe(200);
    expect(testBot.callsOf('sendMessage')).toHaveLength(before + 1);

    const refused = await post(t, OUTSIDE_IP);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: { code: 'WEBHOOK_SOURCE_FORBIDDEN' } });
    await post(t, OUTSIDE_IP);
    // The bot never saw the refused updates.
    expect(testBot.callsOf('sendMessage')).toHaveLength(before + 1);
    const events = await rejections();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ result: 'denied' });
  });

  it('does not believe a spoofed X-Forwarded-For without TRUST_PROXY', async () => {
    const t = await build({ TELEGRAM_WEBHOOK_SOURCE_CHECK: 'on' });
    const response = await post(t, '198.51.100.8', '/start', { 'x-forwarded-for': TELEGRAM_IP });
    expect(response.statusCode).toBe(403);
  });

  it('believes X-Forwarded-For from the proxy TRUST_PROXY names, and only from it', async () => {
    const t = await build({ TELEGRAM_WEBHOOK_SOURCE_CHECK: 'on', TRUST_PROXY: '127.0.0.1' });
    expect((await post(t, '127.0.0.1', '/start', { 'x-forwarded-for': TELEGRAM_IP })).statusCode).toBe(200);
    expect((await post(t, '127.0.0.1', '/start', { 'x-forwarded-for': OUTSIDE_IP })).statusCode).toBe(403);
    expect((await post(t, '198.51.100.9', '/start', { 'x-forwarded-for': TELEGRAM_IP })).statusCode).toBe(403);
  });

  it('is a configuration error outside webhook mode, and only on/off are accepted', () => {
    expect(() => parseConfig({ TELEGRAM_WEBHOOK_SOURCE_CHECK: 'on', NODE_ENV: 'test' })).toThrow(
      /TELEGRAM_WEBHOOK_SOURCE_CHECK/,
    );
    expect(() => parseConfig({ TELEGRAM_WEBHOOK_SOURCE_CHECK: 'yes', BOT_MODE: 'webhook', NODE_ENV: 'test' })).toThrow(
      /TELEGRAM_WEBHOOK_SOURCE_CHECK/,
    );
  });
});

describe('webhook reply', () => {
  it('answers /help inside the webhook response, with no Bot API request', async () => {
    const t = apps[0] ?? (await build({}));
    const before = testBot.calls.length;
    const response = await post(t, OUTSIDE_IP, '/help');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      method: 'sendMessage',
      text: expect.stringMatching(/^Here is what I can do:/),
    });
    expect(testBot.calls).toHaveLength(before);
  });

  it('sends other commands’ answers through the Bot API (their result is used)', async () => {
    const t = apps[0] ?? (await build({}));
    const before = testBot.callsOf('sendMessage').length;
    const response = await post(t, OUTSIDE_IP, '/start');
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('');
    expect(testBot.callsOf('sendMessage').length).toBeGreaterThan(before);
  });

  it('answers /help by a Bot API call when the update did not come by webhook (polling)', async () => {
    const before = testBot.callsOf('sendMessage').length;
    await testBot.handle(textMessage('/help'));
    expect(testBot.callsOf('sendMessage')).toHaveLength(before + 1);
  });
});
