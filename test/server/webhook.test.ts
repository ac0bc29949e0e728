/**
 * Threat: forged updates posted to the webhook URL. Telegram's secret_token header is required and compared
 * in constant time; without a long secret, webhook mode refuses to start.
 */
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telegramRoutes } from '#server/routes/telegram/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, type TestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase } from '#test/helpers/test-db.ts';

let t: TestApp;
let testBot: TestBot;
beforeAll(async () => {
  const database = await createTestDatabase();
  testBot = createTestBot({ db: database.db });
  t = await buildTestApp({ database, bot: testBot.bot, env: { BOT_MODE: 'webhook', RATE_LIMITS: 'global=3/60' } });
});
afterAll(async () => {
  await t.close();
  await t.database.close();
});

const post = (headers: Record<string, string>, payload: unknown) =>
  t.app.inject({ method: 'POST', url: '/telegram/webhook', headers, payload: payload as object });

describe('POST /telegram/webhook', () => {
  it('rejects an update without the secret header', async () => {
    const response = await post({}, textMessage('/start'));
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: { code: 'WEBHOOK_SECRET_INVALID', message: 'Not authorised.' } });
    expect(testBot.calls).toHaveLength(0);
  });

  it('rejects an update with a wrong secret of the same length', async () => {
    const wrong = t.secrets.webhookSecret.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'));
    const response = await post({ 'x-telegram-bot-api-secret-token': wrong }, textMessage('/start'));
    expect(response.statusCode).toBe(401);
    expect(testBot.calls).toHaveLength(0);
  });

  it('records a wrong secret as one security event per address and minute', async () => {
    const rejected = async () =>
      (await t.database.db.select().from(auditLog)).filter((row) => row.action === 'security.webhook_rejected');
    const before = (await rejected()).length;
    for (let i = 0; i < 3; i++)
      expect(
        (await post({ 'x-telegram-bot-api-secret-token': 'x'.repeat(40) }, textMessage('/start'))).statusCode,
      ).toBe(401);
    const after = await rejected();
    expect(after.length).toBeLessThanOrEqual(before + 1);
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.at(-1)).toMatchObject({ result: 'denied', reasonCode: 'WEBHOOK_SECRET_INVALID' });
  });

  it('handles an update with the right secret: the bot answers /start', async () => {
    const response = await post({ 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret }, textMessage('/start'));
    expect(response.statusCode).toBe(200);
    const sent = testBot.callsOf('sendMessage');
    expect(sent).toHaveLength(1);
    expect(String(sent[0]?.payload.text)).toMatch(/^Hi Alice!/);
  });

  it('is not rate-limited per IP: Telegram delivers bursts from a few addresses', async () => {
    for (let i = 0; i < 8; i++) {
      const response = await post({ 'x-telegram-bot-api-secret-token': t.secrets.webhookSecret }, textMessage('/help'));
      expect(response.statusCode, `update ${i}`).toBe(200);
    }
    // The rest of the app is limited (global group: 3 per minute here).
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode);
    expect(statuses).toContain(429);
  });

  it('is not mounted in polling mode', async () => {
    const polling = await buildTestApp({ database: t.database, secrets: t.secrets, bot: testBot.bot });
    const response = await polling.app.inject({
      method: 'POST',
      url: '/telegram/webhook',
      payload: textMessage('/start'),
    });
    expect(response.statusCode).toBe(404);
    await polling.close();
  });

  it('refuses to register without a secret of at least 32 characters', async () => {
    const app = Fastify();
    await expect(
      app.register(telegramRoutes, { bot: testBot.bot, secretToken: 'short-secret' }).ready(),
    ).rejects.toThrow(/at least 32/);
    await app.close();
  });
});
