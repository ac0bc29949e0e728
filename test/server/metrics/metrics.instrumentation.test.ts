/**
 * Threat: attacks that go unseen because nothing counts them: forged webhook deliveries, and queues that
 * back up (a notification or export backlog) without anyone noticing. Webhook rejections are counted by
 * reason, and job latency per queue by outcome, from real requests and real BullMQ workers.
 */
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullPrefix } from '#server/queues.ts';
import { startWorkers } from '#server/workers/index.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { createLogger } from '#shared/logger.ts';
import { textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase } from '#test/helpers/test-db.ts';

let t: TestApp;
beforeAll(async () => {
  const database = await createTestDatabase();
  const testBot = createTestBot({ db: database.db });
  t = await buildTestApp({ database, bot: testBot.bot, env: { BOT_MODE: 'webhook' } });
});
afterAll(async () => {
  await t.close();
  await t.database.close();
});

describe('instrumentation', () => {
  it('counts webhook deliveries refused for a wrong secret', async () => {
    for (const secret of ['nope', 'x'.repeat(40)]) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/telegram/webhook',
        headers: { 'x-telegram-bot-api-secret-token': secret },
        payload: textMessage('/start') as object,
      });
      expect(response.statusCode).toBe(401);
    }
    expect(await t.services.metrics.scrape()).toMatch(/tsp_webhook_rejections_total\{reason="secret"\} 2/);
  });

  it('measures job latency per queue', async () => {
    const workers = await startWorkers({
      database: t.database,
      crypto: { ring: t.ring, userKeys: t.userKeys },
      audit: { signingKey: deriveAuditSigningKey(randomBytesOf(32)) },
      logger: createLogger({ level: 'silent' }),
      connection: () => t.redis.createBullConnection(),
      redisPrefix: t.redisPrefix,
      metrics: t.services.metrics,
    });
    const events = new QueueEvents('system', {
      connection: t.redis.createBullConnection(),
      prefix: bullPrefix(t.redisPrefix),
    });
    await events.waitUntilReady();
    const job = await t.queues.system.add('ping', { kind: 'ping', requestedAt: new Date().toISOString() });
    await job.waitUntilFinished(events, 10_000);
    // The completed listener runs just after the job's end is published.
    const start = Date.now();
    let text = '';
    while (Date.now() - start < 3_000) {
      text = await t.services.metrics.scrape();
      if (/tsp_job_duration_seconds_count\{queue="system",status="completed"\} 1/.test(text)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).toMatch(/tsp_job_duration_seconds_count\{queue="system",status="completed"\} 1/);
    await events.close();
    await workers.close();
  });
});
