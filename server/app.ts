/**
 * buildApp(deps): the Fastify application, with every dependency passed in. Tests call it with real
 * PostgreSQL/PGlite and Redis and use `app.inject()`; only server/main.ts listens.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyContextConfig,
  type FastifyInstance,
  type FastifySchema,
  LogController,
} from 'fastify';
import type { Bot } from 'grammy';
import type { Context } from '#bot/context.ts';
import type { Config, Secrets } from '#shared/config/index.ts';
import type { Database } from '#shared/db/index.ts';
import type { Logger } from '#shared/logger.ts';
import type { RedisHandle } from '#shared/redis/index.ts';
import { authPlugin } from './plugins/auth.ts';
import { corsPlugin } from './plugins/cors.ts';
import { errorHandlerPlugin, frameworkErrors } from './plugins/error-handler.ts';
import { jsonBodyPlugin } from './plugins/json-body.ts';
import { openapiPlugin } from './plugins/openapi.ts';
import { rateLimitPlugin, trustProxyOption } from './plugins/rate-limit.ts';
import { securityHeadersPlugin } from './plugins/security-headers.ts';
import { serviceGuardPlugin } from './plugins/service-guard.ts';
import { webappPlugin } from './plugins/webapp.ts';
import { adminRoutes } from './routes/admin/index.ts';
import { apiKeyRoutes } from './routes/api-keys/index.ts';
import { authRoutes } from './routes/auth/index.ts';
import { healthRoutes } from './routes/health/index.ts';
import { sessionRoutes } from './routes/sessions/index.ts';
import { telegramRoutes } from './routes/telegram/index.ts';
import type { Services } from './services.ts';

/** Where `npm run build` writes the Mini App. */
export const DEFAULT_WEBAPP_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'webapp');

export interface AppDeps {
  config: Config;
  secrets: Secrets;
  database: Database;
  /** The key store (per-user data keys), a separate database. */
  keystore: Database;
  /** The shared domain services (server/services.ts). */
  services: Services;
  redis: RedisHandle;
  logger: Logger;
  /** Prefix of every Redis key this deployment writes (tests use a unique one). */
  redisPrefix: string;
  /** The bot, when this process serves the webhook. */
  bot?: Bot<Context>;
  webappRoot?: string;
  /** True once shutdown has begun: new requests get 503 SHUTTING_DOWN. */
  isShuttingDown?: () => boolean;
}

export type App = FastifyInstance;

/** One registered route as declared: its method, URL, route config (auth declaration) and schema. */
export interface RouteEntry {
  method: string;
  url: string;
  config: FastifyContextConfig;
  schema: FastifySchema | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route of the app, in registration order (the RBAC matrix test walks it). */
    routeTable: readonly RouteEntry[];
  }
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const isShuttingDown = deps.isShuttingDown ?? (() => false);
  // TLS_CERT/TLS_KEY: serve HTTPS directly (usually TLS ends at a reverse proxy instead; see README).
  const { tls } = deps.config;
  const https = tls ? { cert: await readFile(tls.certPath), key: await readFile(tls.keyPath) } : null;
  const app = Fastify({
    ...(https ? { https } : {}),
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Fastify's own request lines carry IPs and full URLs; ours (onResponse below) carry neither.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.bodyLimitBytes,
    // Whether X-Forwarded-For is believed (request.ip): off unless TRUST_PROXY names the proxy.
    trustProxy: trustProxyOption(deps.config.trustProxy),
    // Bodies with `__proto__` / `constructor.prototype` keys are refused (plugins/json-body.ts says so with a code).
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    frameworkErrors, // malformed URLs answer in our error shape too
    genReqId: () => randomUUID(),
    requestIdHeader: false, // ids are ours; a client cannot inject one into our logs
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: false },
    ajv: { customOptions: { removeAdditional: true, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Registered before any route, so the table is complete: tests check every route's declared protection.
  const routeTable: RouteEntry[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      routeTable.push({ method, url: route.url, config: route.config ?? {}, schema: route.schema });
    }
  });

  // One access line per request: method, route pattern, status, time. No IPs, query strings or bodies.
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  await app.register(errorHandlerPlugin);
  await app.register(securityHeadersPlugin);
  await app.register(corsPlugin, { origins: deps.config.corsOrigins });
  await app.register(serviceGuardPlugin, { redis: deps.redis, isShuttingDown });
  await app.register(jsonBodyPlugin);
  // Before the routes: the OpenAPI document is collected from their registration.
  await app.register(openapiPlugin, { docsEnabled: deps.config.docsEnabled });

  const { services } = deps;
  // Before auth: its onRequest hook counts auth routes per address before credentials are checked.
  await app.register(rateLimitPlugin, {
    redis: deps.redis.client,
    redisPrefix: deps.redisPrefix,
    rateLimits: deps.config.rateLimits,
    audit: services.audit,
  });
  await app.register(authPlugin, { signer: services.signer, sessions: services.sessions, apiKeys: services.apiKeys });
  await app.register(authRoutes, {
    db: deps.database.db,
    signer: services.signer,
    sessions: services.sessions,
    audit: services.audit,
    verifyInitData: services.verifyInitData,
    adminTelegramIds: deps.config.adminTelegramIds,
    secondFactor: services.secondFactor,
    notify: services.notify,
  });
  await app.register(sessionRoutes, { sessions: services.sessions, audit: services.audit });
  await app.register(apiKeyRoutes, { service: services.apiKeys });
  await app.register(adminRoutes, {
    db: deps.database.db,
    sessions: services.sessions,
    audit: services.audit,
    notify: services.notify,
  });
  await app.register(healthRoutes, {
    database: deps.database,
    keystore: deps.keystore,
    redis: deps.redis,
    isShuttingDown,
  });
  if (deps.bot && deps.config.bot.mode === 'webhook') {
    await app.register(telegramRoutes, { bot: deps.bot, secretToken: deps.secrets.webhookSecret });
  }
  await app.register(webappPlugin, { root: deps.webappRoot ?? DEFAULT_WEBAPP_ROOT });

  await app.ready();
  return app;
}
