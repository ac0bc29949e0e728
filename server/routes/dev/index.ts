/**
 * Development only: signs Mini App initData for a test user, so a developer can open /app/ in a plain browser
 * and sign in as that user. It mints a valid login for any Telegram id, so it exists only when
 * DEV_SIGNER_ENABLED=true outside production: the config schema refuses the flag with NODE_ENV=production,
 * buildApp registers this plugin only when the flag is on, and the plugin itself refuses to load in
 * production (three independent locks).
 */
import { randomBytes } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { sign } from '@telegram-apps/init-data-node';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { Config } from '#shared/config/index.ts';

export interface DevRoutesOptions {
  config: Config;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });

/** Telegram user ids are positive 52-bit integers (Bot API: "at most 52 significant bits"). */
const MAX_TELEGRAM_ID = 2 ** 52 - 1;

export async function devRoutes(fastify: FastifyInstance, options: DevRoutesOptions) {
  const { config } = options;
  if (config.isProduction || !config.devSignerEnabled) {
    // Reaching this is a wiring bug; failing the start is better than shipping a login for anyone.
    throw new Error('The development initData signer cannot be registered in production or without DEV_SIGNER_ENABLED');
  }
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/v1/dev/signer',
    {
      config: { public: true },
      schema: {
        summary: 'Development only: whether the initData signer is on (absent, 404, otherwise)',
        tags: ['dev'],
        response: { 200: Type.Object({ enabled: Type.Literal(true), botConfigured: Type.Boolean() }) },
      },
    },
    async () => ({ enabled: true as const, botConfigured: config.bot.token !== undefined }),
  );

  app.post(
    '/api/v1/dev/init-data',
    {
      config: { public: true },
      schema: {
        summary: 'Development only: initData signed with the bot token for a test user',
        tags: ['dev'],
        body: Type.Object(
          {
            telegramId: Type.Integer({ minimum: 1, maximum: MAX_TELEGRAM_ID }),
            firstName: Type.String({ minLength: 1, maxLength: 64 }),
            username: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_]{5,32}$' })),
            languageCode: Type.Optional(Type.String({ pattern: '^[a-z]{2,3}(-[A-Za-z]{2,4})?$' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ initData: Type.String() }), 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const token = config.bot.token;
      if (!token) {
        return reply.status(503).send({
          error: { code: 'DEV_SIGNER_UNAVAILABLE', message: 'Set BOT_TOKEN: initData is signed with the bot token.' },
        });
      }
      const { telegramId, firstName, username, languageCode } = request.body;
      const user = {
        id: telegramId,
        first_name: firstName,
        ...(username ? { username } : {}),
        ...(languageCode ? { language_code: languageCode } : {}),
      };
      // A fresh query id per call: the sign-in replay cache accepts each initData once.
      const queryId = `AAH${randomBytes(12).toString('base64url')}`;
      const initData = sign({ user, query_id: queryId } as unknown as Parameters<typeof sign>[0], token, new Date());
      request.log.warn({ route: 'dev-signer' }, 'development initData signed');
      return { initData };
    },
  );
}
