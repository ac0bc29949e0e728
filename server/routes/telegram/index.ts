/**
 * POST /telegram/webhook: Telegram delivers updates here in webhook mode. grammY checks the
 * X-Telegram-Bot-Api-Secret-Token header in constant time; the app refuses to start webhook mode without one.
 *
 * Optionally (TELEGRAM_WEBHOOK_SOURCE_CHECK=on) only Telegram's published webhook source ranges may post
 * (149.154.160.0/20 and 91.108.4.0/22, https://core.telegram.org/bots/webhooks). The address is `request.ip`,
 * which believes X-Forwarded-For only from the proxies TRUST_PROXY names: behind a reverse proxy, set
 * TRUST_PROXY too, or every delivery looks like the proxy's and is refused. Off by default: the secret already
 * authenticates Telegram, and a proxy set up without TRUST_PROXY would silently stop all updates. Turn it on
 * where the server (or its trusted proxy) sees Telegram's addresses, as defence in depth for a leaked secret.
 */
import { BlockList } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { type Bot, webhookCallback } from 'grammy';
import type { Redis } from 'ioredis';
import Type from 'typebox';
import type { Context } from '#bot/context.ts';
import { markWebhookDelivery } from '#bot/outgoing.ts';
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
  /** Accept only Telegram's source ranges (TELEGRAM_WEBHOOK_SOURCE_CHECK=on). */
  sourceCheck?: boolean;
}

/** Telegram's published webhook source ranges (IPv4; Telegram does not deliver webhooks over IPv6). */
export const TELEGRAM_WEBHOOK_RANGES: readonly { network: string; prefix: number }[] = [
  { network: '149.154.160.0', prefix: 20 },
  { network: '91.108.4.0', prefix: 22 },
];

const telegramSources = new BlockList();
for (const { network, prefix } of TELEGRAM_WEBHOOK_RANGES) telegramSources.addSubnet(network, prefix, 'ipv4');

/** Whether `ip` (as `request.ip` gives it, IPv4-mapped IPv6 included) is in Telegram's webhook ranges. */
export function isTelegramSource(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(v4) && telegramSources.check(v4, 'ipv4');
}

/** Telegram retries a webhook that takes longer than this; answer before it does. */
const WEBHOOK_TIMEOUT_MS = 9_000;

export async function telegramRoutes(app: FastifyInstance, options: TelegramRoutesOptions) {
  if (options.secretToken.length < WEBHOOK_SECRET_MIN_LENGTH) {
    throw new Error(`Webhook mode needs TELEGRAM_WEBHOOK_SECRET of at least ${WEBHOOK_SECRET_MIN_LENGTH} characters`);
  }
  async function recordRejection(ip: string, requestId: string, reasonCode: string): Promise<void> {
    const { audit, redis } = options;
    if (!audit || !redis) return;
    const marker = `${options.redisPrefix ?? 'tsp'}:webhook-rejected:${rateKeyForIp(ip)}`;
    const first = await redis.set(marker, '1', 'EX', 60, 'NX').catch(() => null);
    if (first !== 'OK') return;
    await audit.record({
      actor: { type: 'anonymous' },
      action: 'security.webhook_rejected',
      result: 'denied',
      reasonCode,
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
      if (options.sourceCheck && !isTelegramSource(request.ip)) {
        await recordRejection(request.ip, request.id, 'WEBHOOK_SOURCE_FORBIDDEN');
        return reply
          .status(403)
          .send({ error: { code: 'WEBHOOK_SOURCE_FORBIDDEN', message: 'Not an address Telegram delivers from.' } });
      }
      // Checked here (constant time) for our JSON error shape; grammY checks again before handling.
      const given = request.headers['x-telegram-bot-api-secret-token'];
      if (typeof given !== 'string' || !constantTimeEqual(given, options.secretToken)) {
        await recordRejection(request.ip, request.id, 'WEBHOOK_SECRET_INVALID');
        return reply.status(401).send({ error: { code: 'WEBHOOK_SECRET_INVALID', message: 'Not authorised.' } });
      }
      // Its answer may travel in this response (bot/outgoing.ts webhookReplies).
      if (typeof request.body === 'object' && request.body !== null) markWebhookDelivery(request.body);
      await handle(request, reply);
      return reply;
    },
  );
}
