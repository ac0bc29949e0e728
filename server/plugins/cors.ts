/**
 * CORS from an exact allow-list (CORS_ORIGINS; default PUBLIC_URL's origin). A listed origin gets its own
 * origin back, with credentials; any other origin, `null` included, gets no CORS headers at all and no
 * preflight answer, so a browser refuses to show it the response. No origin is ever reflected unchecked,
 * and no pattern or suffix matching is done (`https://app.example.com.evil.com` is not listed).
 */
import fastifyCors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface CorsPluginOptions {
  /** Exact origins (scheme://host[:port]) allowed to call the API from a browser. */
  origins: readonly string[];
}

/** How long a browser may cache a preflight answer (Chromium caps it at 2 hours). */
export const PREFLIGHT_MAX_AGE_SECONDS = 10 * 60;

export const corsPlugin = fp<CorsPluginOptions>(
  async (app: FastifyInstance, options) => {
    const allowed = new Set(options.origins);
    await app.register(fastifyCors, {
      // Exact Set lookup: an unlisted origin resolves to `false`, which sends no CORS header (not even
      // Access-Control-Allow-Credentials) and leaves its preflight unanswered (404).
      origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
      credentials: true,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-api-key'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      maxAge: PREFLIGHT_MAX_AGE_SECONDS,
      strictPreflight: true,
    });
  },
  { name: 'cors' },
);
