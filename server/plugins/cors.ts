/**
 * CORS from an exact allow-list (CORS_ORIGINS; default PUBLIC_URL's origin). A listed origin gets its own
 * origin back, with credentials; any other origin, `null` included, gets no CORS headers at all and no
 * preflight answer, so a browser refuses to show it the response. No origin is ever reflected unchecked,
 * and no pattern or suffix matching is done (`https://app.example.com.evil.com` is not listed).
 *
 * Our own hook rather than @fastify/cors: with an exact list there is one decision per request (a Set lookup),
 * and a request without `Origin` (same-origin, or not a browser: most traffic) costs one header. @fastify/cors
 * copied its whole options object and made a closure for every request, a measurable share of a cheap one.
 * Every response varies by `Origin`, so no cache serves one origin's answer to another.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface CorsPluginOptions {
  /** Exact origins (scheme://host[:port]) allowed to call the API from a browser. */
  origins: readonly string[];
}

/** How long a browser may cache a preflight answer (Chromium caps it at 2 hours). */
export const PREFLIGHT_MAX_AGE_SECONDS = 10 * 60;

const ALLOWED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].join(', ');
const ALLOWED_HEADERS = ['authorization', 'content-type', 'x-api-key'].join(', ');
const EXPOSED_HEADERS = ['x-request-id', 'retry-after'].join(', ');

declare module 'fastify' {
  interface FastifyRequest {
    /** An OPTIONS request from a listed origin (answered by the OPTIONS route, which 404s any other). */
    corsPreflight?: boolean;
  }
}

export const corsPlugin = fp<CorsPluginOptions>(
  async (app: FastifyInstance, options) => {
    const allowed = new Set(options.origins);
    app.decorateRequest('corsPreflight', false);

    app.addHook('onRequest', (request, reply, done) => {
      reply.header('vary', 'Origin');
      const origin = request.headers.origin;
      if (origin === undefined || !allowed.has(origin)) {
        done();
        return;
      }
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-allow-credentials', 'true');
      if (request.method === 'OPTIONS') request.corsPreflight = true;
      else reply.header('access-control-expose-headers', EXPOSED_HEADERS);
      done();
    });

    // Every OPTIONS request reaches this route, after the ban check and the rate limiter (a preflight is
    // counted like any other request, and a flood of them is limited). A listed origin's preflight is answered;
    // anything else gets the ordinary 404.
    app.options('*', { schema: { hide: true } }, (request, reply) => {
      if (!request.corsPreflight) {
        reply.callNotFound();
        return;
      }
      // A preflight names the method it asks for; an OPTIONS request without it is not one.
      if (!request.headers['access-control-request-method']) {
        reply.status(400).send({
          error: {
            code: 'INVALID_PREFLIGHT',
            message: 'A CORS preflight needs Origin and Access-Control-Request-Method.',
          },
        });
        return;
      }
      reply.header('access-control-allow-methods', ALLOWED_METHODS);
      reply.header('access-control-allow-headers', ALLOWED_HEADERS);
      reply.header('access-control-max-age', String(PREFLIGHT_MAX_AGE_SECONDS));
      reply.status(204).send();
    });
  },
  { name: 'cors' },
);
