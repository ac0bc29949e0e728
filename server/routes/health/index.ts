/**
 * Liveness and readiness. /healthz says the process is up; /readyz says it can serve: database reachable,
 * migrations applied, Redis answering. Load balancers route on /readyz.
 */
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { Database } from '#shared/db/index.ts';
import type { RedisHandle } from '#shared/redis/index.ts';

export interface HealthRoutesOptions {
  database: Database;
  keystore: Database;
  redis: RedisHandle;
  isShuttingDown: () => boolean;
}

const CheckState = Type.Union([Type.Literal('ok'), Type.Literal('fail')]);
const ReadyResponse = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object({ database: CheckState, keystore: CheckState, migrations: CheckState, redis: CheckState }),
});
const PING_TIMEOUT_MS = 2_500; // generous: a busy database is not a down one

async function withTimeout<T>(promise: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), PING_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions) {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process is up',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: database, key store, migrations and Redis are ok',
        tags: ['health'],
        response: { 200: ReadyResponse, 503: ReadyResponse },
      },
    },
    async (_request, reply) => {
      const [database, keystore, migrations, redis] = await Promise.all([
        withTimeout(
          options.database.ping().then(() => true),
          false,
        ),
        withTimeout(
          options.keystore.ping().then(() => true),
          false,
        ),
        withTimeout(
          Promise.all([options.database.isMigrated(), options.keystore.isMigrated()]).then(([a, b]) => a && b),
          false,
        ),
        options.redis.isReady(PING_TIMEOUT_MS),
      ]);
      const checks = {
        database: database ? 'ok' : 'fail',
        keystore: keystore ? 'ok' : 'fail',
        migrations: migrations ? 'ok' : 'fail',
        redis: redis ? 'ok' : 'fail',
      } as const;
      const ready = database && keystore && migrations && redis && !options.isShuttingDown();
      reply.header('cache-control', 'no-store');
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );
}
