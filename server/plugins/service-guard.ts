/**
 * Fails fast when a route's backing service is down (503 with a code) instead of letting the request
 * hang, and refuses new work while the process shuts down.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { RedisHandle } from '#shared/redis/index.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Backing services the route needs; the guard answers 503 when one is down. */
    requires?: readonly 'redis'[];
  }
}

export interface ServiceGuardOptions {
  redis: RedisHandle;
  isShuttingDown: () => boolean;
}

export const serviceGuardPlugin = fp<ServiceGuardOptions>(
  async (app: FastifyInstance, options) => {
    // Callback style: nothing here waits, and a promise per request is measurable on the hot path.
    app.addHook('onRequest', (request, reply, done) => {
      if (options.isShuttingDown() && !request.url.startsWith('/healthz')) {
        // Tells load balancers to retry elsewhere; in-flight requests still complete.
        reply.header('connection', 'close');
        reply
          .status(503)
          .send({ error: { code: 'SHUTTING_DOWN', message: 'The server is restarting. Try again shortly.' } });
        return;
      }
      const requires = request.routeOptions.config?.requires;
      if (requires?.includes('redis') && options.redis.client.status !== 'ready') {
        reply.status(503).send({
          error: { code: 'REDIS_UNAVAILABLE', message: 'A backing service is unavailable. Try again shortly.' },
        });
        return;
      }
      done();
    });
  },
  { name: 'service-guard' },
);
