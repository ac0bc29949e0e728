/**
 * buildApp(deps): the Fastify application, with every dependency passed in. Tests call it with real
 * PostgreSQL/PGlite and Redis and use `app.inject()`; only server/main.ts listens.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AjvCompiler } from '@fastify/ajv-compiler';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyContextConfig,
  type FastifyInstance,
  type FastifySchema,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import type { Bot } from 'grammy';
import type { Context } from '#bot/context.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import type { Config, Secrets } from '#shared/config/index.ts';
import type { Database } from '#shared/db/index.ts';
import type { Logger } from '#shared/logger.ts';
import type { RedisHandle } from '#shared/redis/index.ts';
import { authPlugin } from './plugins/auth.ts';
import { corsPlugin } from './plugins/cors.ts';
import { apiSensors, decisionsPlugin, principalDecisionsPlugin } from './plugins/decisions.ts';
import { errorHandlerPlugin, frameworkErrors } from './plugins/error-handler.ts';
import { jsonBodyPlugin } from './plugins/json-body.ts';
import { metricsPlugin } from './plugins/metrics.ts';
import { openapiPlugin } from './plugins/openapi.ts';
import { rateLimitPlugin, trustProxyOption } from './plugins/rate-limit.ts';
import { securityHeadersPlugin } from './plugins/security-headers.ts';
import { serviceGuardPlugin } from './plugins/service-guard.ts';
import { webappPlugin } from './plugins/webapp.ts';
import type { Queues } from './queues.ts';
import { dashboardRoutes } from './routes/admin/dashboard.ts';
import { adminRoutes } from './routes/admin/index.ts';
import { roleGrantRoutes } from './routes/admin/role-grants.ts';
import { apiKeyRoutes } from './routes/api-keys/index.ts';
import { authRoutes } from './routes/auth/index.ts';
import { decisionRoutes } from './routes/decisions/index.ts';
import { devRoutes } from './routes/dev/index.ts';
import { healthRoutes } from './routes/health/index.ts';
import { metricsRoutes } from './routes/metrics/index.ts';
import { mfaRoutes } from './routes/mfa/index.ts';
import { mfaStepUpPlugin } from './routes/mfa/step-up.ts';
import { oauthRoutes } from './routes/oauth/index.ts';
import { privacyRoutes } from './routes/privacy/index.ts';
import { scannerRoutes } from './routes/scanner/index.ts';
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
  /** The queue producers, for queue-depth metrics (optional: /metrics then omits them). */
  queues?: Queues;
}

export type App = FastifyInstance;

const ajvPool = AjvCompiler();

/** Builds two validators from one set of Ajv options: bodies without type coercion, everything else with it. */
function bodyStrictValidator(
  externalSchemas: Parameters<typeof ajvPool>[0],
  options: Parameters<typeof ajvPool>[1],
): ReturnType<typeof ajvPool> {
  const coercing = ajvPool(externalSchemas, options);
  const strictOptions = { ...options, customOptions: { ...options?.customOptions, coerceTypes: false } };
  const strict = ajvPool(externalSchemas, strictOptions as typeof options);
  return (route) => (route.httpPart === 'body' ? strict(route) : coercing(route));
}

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

/**
 * Request loggers (`request.log`) are made on first use. pino builds and redacts a child's bindings when the child
 * is created, which costs more than the rest of a cheap request, and most requests never log through it.
 */
class LazyChildLogger {
  #child: FastifyBaseLogger | undefined;
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: Record<string, unknown>,
  ) {}
  #real(): FastifyBaseLogger {
    if (this.#child === undefined) this.#child = this.parent.child(this.bindings, this.options);
    return this.#child;
  }
  #log(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', args: unknown[]): void {
    if ((this.parent as unknown as Logger).isLevelEnabled(level))
      (this.#real()[level] as (...a: unknown[]) => void)(...args);
  }
  get level(): string {
    return this.#real().level;
  }
  set level(level: string) {
    this.#real().level = level;
  }
  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}
  child(...args: Parameters<FastifyBaseLogger['child']>): FastifyBaseLogger {
    return this.#real().child(...args);
  }
}

const lazyChildLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, options) =>
  new LazyChildLogger(
    logger,
    bindings as Record<string, unknown>,
    options as Record<string, unknown>,
  ) as unknown as FastifyBaseLogger;

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
    childLoggerFactory: lazyChildLogger,
    bodyLimit: deps.config.bodyLimitBytes,
    // Whether X-Forwarded-For is believed (request.ip): off unless TRUST_PROXY names the proxy.
    trustProxy: trustProxyOption(deps.config.trustProxy),
    // Bodies with `__proto__` / `constructor.prototype` keys are refused (plugins/json-body.ts says so with a code).
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    frameworkErrors, // malformed URLs answer in our error shape too
    genReqId: () => randomUUID(),
    requestIdHeader: false, // ids are ours; a client cannot inject one into our logs
    // While closing, requests on open connections reach the service guard, which answers 503 SHUTTING_DOWN in our
    // error shape (Fastify's own closing answer has no code).
    return503OnClosing: false,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: false },
    // Unknown properties are refused (400 naming the field), not silently dropped. Query strings, path
    // parameters and headers are coerced to the declared scalar types (a URL carries only strings); JSON
    // bodies are not: `12` where a string belongs is a 400, not "12".
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    schemaController: { compilersFactory: { buildValidator: bodyStrictValidator } },
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
  // Through the root logger with the request id, so a request that logs nothing else makes no child logger.
  const accessLog = deps.logger as FastifyBaseLogger;
  app.addHook('onResponse', (request, reply, done) => {
    accessLog.info(
      {
        reqId: request.id,
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
    done();
  });

  await app.register(errorHandlerPlugin);
  await app.register(securityHeadersPlugin);
  await app.register(corsPlugin, { origins: deps.config.corsOrigins });
  await app.register(serviceGuardPlugin, { redis: deps.redis, isShuttingDown });
  await app.register(jsonBodyPlugin);
  // Before the routes: the OpenAPI document is collected from their registration.
  await app.register(openapiPlugin, { docsEnabled: deps.config.docsEnabled });

  const { services } = deps;
  // Latency per route pattern and the scrape-time gauges (shared/metrics).
  await app.register(metricsPlugin, {
    metrics: services.metrics,
    db: deps.database.db,
    defense: services.defense,
    queues: deps.queues,
  });
  // Before rate limiting and auth: a banned address costs one Map lookup, nothing else.
  await app.register(decisionsPlugin, { defense: services.defense, metrics: services.metrics });
  const sensors = apiSensors(services.defense, services.metrics);
  // Before auth: its onRequest hook counts auth routes per address before credentials are checked.
  await app.register(rateLimitPlugin, {
    redis: deps.redis.client,
    redisPrefix: deps.redisPrefix,
    rateLimits: deps.config.rateLimits,
    audit: services.audit,
    onRejected: sensors.onRejected,
  });
  await app.register(authPlugin, {
    signer: services.signer,
    sessions: services.sessions,
    apiKeys: services.apiKeys,
    onApiKeyResult: sensors.onApiKeyResult,
  });
  // After auth: decisions on the signed-in user or API key (and second-factor lockouts).
  await app.register(principalDecisionsPlugin, { defense: services.defense, metrics: services.metrics });
  await app.register(decisionRoutes, { defense: services.defense });
  await app.register(metricsRoutes, {
    db: deps.database.db,
    metrics: services.metrics,
    defense: services.defense,
    metricsToken: deps.config.metricsToken,
    signer: services.signer,
    sessions: services.sessions,
  });
  await app.register(authRoutes, {
    db: deps.database.db,
    signer: services.signer,
    sessions: services.sessions,
    audit: services.audit,
    verifyInitData: services.verifyInitData,
    adminTelegramIds: deps.config.adminTelegramIds,
    secondFactor: services.secondFactor,
    notify: services.notify,
    mfa: services.mfa,
  });
  // Step-up for people with MFA on routes that declare `stepUpIfEnrolledSeconds`; then the MFA routes.
  await app.register(mfaStepUpPlugin, { mfa: services.mfa });
  await app.register(mfaRoutes, { mfa: services.mfa, db: deps.database.db, sessions: services.sessions });
  await app.register(sessionRoutes, { sessions: services.sessions, audit: services.audit });
  await app.register(oauthRoutes, {
    db: deps.database.db,
    oauth: services.oauth,
    audit: services.audit,
    notify: services.notify,
    signIn: { ...services, db: deps.database.db },
  });
  await app.register(apiKeyRoutes, { service: services.apiKeys });
  await app.register(adminRoutes, {
    db: deps.database.db,
    sessions: services.sessions,
    audit: services.audit,
    notify: services.notify,
  });
  // The two-person rule's approvals (promotions to admin wait there for a second admin).
  await app.register(roleGrantRoutes, {
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
    await app.register(telegramRoutes, {
      bot: deps.bot,
      secretToken: deps.secrets.webhookSecret,
      sourceCheck: deps.config.bot.webhookSourceCheck,
      audit: services.audit,
      redis: deps.redis.client,
      redisPrefix: deps.redisPrefix,
    });
  }
  await app.register(dashboardRoutes, {
    db: deps.database.db,
    // The checkpoint key derives from MASTER_KEY; only its public half reaches the routes.
    auditPublicKey: deriveAuditSigningKey(deps.secrets.masterKey).publicKey,
  });
  await app.register(scannerRoutes, { scanner: services.scanner, audit: services.audit });
  await app.register(privacyRoutes, {
    db: deps.database.db,
    privacy: services.privacy,
    dataDir: deps.config.dataDir,
    isMfaEnrolled: (userId) => services.mfa.isEnrolled(userId),
  });
  // Development only: signs initData for a test user. Never registered in production (see routes/dev).
  if (deps.config.devSignerEnabled && !deps.config.isProduction) {
    await app.register(devRoutes, { config: deps.config });
  }
  await app.register(webappPlugin, { root: deps.webappRoot ?? DEFAULT_WEBAPP_ROOT });

  await app.ready();
  return app;
}
