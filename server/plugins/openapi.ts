/**
 * The OpenAPI 3.1 document (GET /openapi.json) and, when `docsEnabled`, a Swagger UI at /docs. Generated from
 * the route schemas; every operation is then completed from its route's declaration, in one place, so no
 * route can be documented as open when it is not: its security (bearer JWT and/or API key, or none for public
 * routes), the permission it needs (`x-permission` and a line in the description) and the errors the shared
 * plugins answer with (400 VALIDATION_FAILED, 401, 403, 413, 415, 429), all with the Error schema.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyContextConfig, FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';

export interface OpenapiPluginOptions {
  /** Serve the Swagger UI at /docs (config DOCS_ENABLED; off in production unless asked for). */
  docsEnabled: boolean;
}

/** Where the Swagger UI lives; every asset is served from here, none from a CDN. */
export const DOCS_PREFIX = '/docs';

/**
 * The docs page runs Swagger UI's own scripts and styles from /docs/static and nothing else. Swagger UI sets
 * style attributes from JavaScript, hence 'unsafe-inline' for styles only (no script may be inline).
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The one error shape of the API (server/plugins/error-handler.ts). */
export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'Stable UPPER_SNAKE code to branch on.' },
        message: { type: 'string', description: 'What to do next, for people.' },
        details: { description: 'For VALIDATION_FAILED: the failing fields (`path`, `message`).' },
      },
    },
  },
} as const;

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** Errors the shared plugins may answer any route with, by what the route declares. */
const RESPONSES = {
  validation: errorResponse(
    'VALIDATION_FAILED (details name the failing field), INVALID_JSON, or JSON_PROTOTYPE_POLLUTION',
  ),
  unauthenticated: errorResponse('AUTH_REQUIRED, or the credential is not valid (the code says why)'),
  forbidden: errorResponse('PERMISSION_DENIED, or STEP_UP_REQUIRED for routes that need a recent second factor'),
  tooLarge: errorResponse('PAYLOAD_TOO_LARGE: the body is over this route’s limit'),
  mediaType: errorResponse('UNSUPPORTED_MEDIA_TYPE: send application/json'),
  rateLimited: errorResponse('RATE_LIMITED: too many requests; see Retry-After'),
} as const;

type RouteSchema = FastifySchema & {
  hide?: boolean;
  description?: string;
  security?: Record<string, string[]>[];
  response?: Record<string, unknown>;
};

/**
 * Completes one operation from its route's declaration (a @fastify/swagger `transform`: the route's own
 * schema is not changed, so validation and serialisation stay exactly as declared).
 */
export function documentRoute(
  schema: RouteSchema | undefined,
  url: string,
  config: FastifyContextConfig | undefined,
): { schema: RouteSchema; url: string } {
  const base: RouteSchema = schema ?? {};
  if (base.hide) return { schema: base, url };
  const permission = config?.permission;
  const stepUpSeconds = config?.stepUpSeconds;
  const isApi = url.startsWith('/api/');
  const hasInput = Boolean(base.body ?? base.params ?? base.querystring ?? base.headers);

  const added: Record<string, unknown> = {};
  if (hasInput || base.body) added['400'] = RESPONSES.validation;
  if (base.body) {
    added['413'] = RESPONSES.tooLarge;
    added['415'] = RESPONSES.mediaType;
  }
  if (permission) {
    added['401'] = RESPONSES.unauthenticated;
    added['403'] = RESPONSES.forbidden;
  }
  if (isApi) added['429'] = RESPONSES.rateLimited;

  const access = permission
    ? `Requires the \`${permission}\` permission${stepUpSeconds === undefined ? '' : ` and a second factor verified within ${stepUpSeconds} s (POST /api/v1/auth/step-up)`}.`
    : 'Public: no credentials.';
  return {
    url,
    schema: {
      ...base,
      description: base.description ? `${base.description}\n\n${access}` : access,
      // A step-up route is never open to API keys (they have no second factor), whatever their scopes.
      security: permission ? [{ bearerAuth: [] }, ...(stepUpSeconds === undefined ? [{ apiKey: [] }] : [])] : [],
      ...(permission ? { 'x-permission': permission } : {}),
      ...(stepUpSeconds === undefined ? {} : { 'x-step-up-seconds': stepUpSeconds }),
      // The route's own declarations win: they are more specific than the shared ones.
      response: { ...added, ...(base.response ?? {}) },
    },
  };
}

export const openapiPlugin = fp<OpenapiPluginOptions>(
  async (app: FastifyInstance, options) => {
    // Registered before the routes: @fastify/swagger collects routes from its onRoute hook.
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Telegram security platform API',
          version: '0.1.0',
          description:
            'REST API for the Mini App and external clients. Errors are `{ error: { code, message } }`. ' +
            'Each operation names the permission it needs (`x-permission`).',
        },
        components: {
          securitySchemes: {
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description: 'An access token from POST /api/v1/auth/telegram (an API key is accepted here too).',
            },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key (tsp_…).' },
          },
          schemas: { Error: structuredClone(ERROR_SCHEMA) as unknown as Record<string, unknown> },
        },
      },
      transform: ({ schema, url, route }) =>
        documentRoute(schema as RouteSchema | undefined, url, (route as RouteOptions).config),
    });

    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

    if (options.docsEnabled) {
      await app.register(fastifySwaggerUi, {
        routePrefix: DOCS_PREFIX,
        // Set in the docs' own encapsulated onSend, which runs after the global security headers: /docs only.
        staticCSP: DOCS_CSP,
        uiConfig: { deepLinking: false, validatorUrl: null },
      });
    }
  },
  { name: 'openapi', dependencies: ['error-handler'] },
);
