/**
 * POST /telegram/webhook: Telegram delivers updates here in webhook mode. grammY checks the
 * X-Telegram-Bot-Api-Secret-Token header in constant time; the app refuses to start webhook mode without one.
 */
import type { FastifyInstance } from 'fastify';
import { type Bot, webhookCallback } from 'grammy';
import type { Redis } from 'ioredis';
import Type from 'typebox';
import type { Context } from '#bot/context.ts';
import { WEBHOOK_PATH } from '#bot/run.ts';
import type { AuditLog } from '#shared/audit/index.ts';
import { WEBHOOK_SECRET_MIN_LENGTH } from '#shared/config/index.ts';
import { constantTimeEqual } from '#shared/crypto/random.ts';
import { rateKeyForIp } from '#shared/defense/rate-key.ts';

export interface TelegramRoutesOptions {
  bot: Bot<Context>;
  secretToken: string;
  /** A wrong secret is a security event: one audit entry per address and minute (a flood writes one row). */
  audit?: Pick<AuditLog, 'record'>;
  redis?: Redis;
  redisPrefix?: string;
}

/** Telegram retries a webhook that takes longer than this; answer before it does. */
const WEBHOOK_TIMEOUT_MS = 9_000;

export async function telegramRoutes(app: FastifyInstance, options: TelegramRoutesOptions) {
  if (options.secretToken.length < WEBHOOK_SECRET_MIN_LENGTH) {
    throw new Error(`Webhook mode needs TELEGRAM_WEBHOOK_SECRET of at least ${WEBHOOK_SECRET_MIN_LENGTH} characters`);
  }
  async function recordRejection(ip: string, requestId: string): Promise<void> {
    const { audit, redis } = options;
    if (!audit || !redis) return;
    const marker = `${options.redisPrefix ?? 'tsp'}:webhook-rejected:${rateKeyForIp(ip)}`;
    const first = await redis.set(marker, '1', 'EX', 60, 'NX').catch(() => null);
    if (first !== 'OK') return;
    await audit.record({
      actor: { type: 'anonymous' },
      action: 'security.webhook_rejected',
      result: 'denied',
      reasonCode: 'WEBHOOK_SECRET_INVALID',
      source: 'api',
      requestId,
      ip, // stored truncated by the audit log
    });
  }

  const handle = webhookCallback(options.bot, 'fastify', {
    secretToken: options.secretToken,
    onTimeout: 'return',
    timeoutMilliseconds: WEBHOOK_TIMEOUT_MS,
  });
  app.post(
    WEBHOOK_PATH,
    {
      // Telegram delivers bursts from a few addresses; the secret check below is constant-time and cheap.
      config: { requires: ['redis'], rateLimitExempt: true },
      bodyLimit: 1024 * 1024,
      schema: {
        summary: 'Telegram Bot API webhook (Telegram only)',
        tags: ['telegram'],
        headers: Type.Object({
          'x-telegram-bot-api-secret-token': Type.Optional(Type.String({ maxLength: 256 })),
        }),
        body: Type.Object({ update_id: Type.Integer({ minimum: 0 }) }, { additionalProperties: true }),
      },
    },
    async (request, reply) => {
      // Checked here (constant time) for our JSON error shape; grammY checks again before handling.
      const given = request.headers['x-telegram-bot-api-secret-token'];
      if (typeof given !== 'string' || !constantTimeEqual(given, options.secretToken)) {
        await recordRejection(request.ip, request.id);
        return reply.status(401).send({ error: { code: 'WEBHOOK_SECRET_INVALID', message: 'Not authorised.' } });
      }
      await handle(request, reply);
      return reply;
    },
  );
}
