/**
 * Request rate limiting for every route and the 404 handler (@fastify/rate-limit on our Redis).
 * Groups and limits come from shared/defense/rate-limits.ts: auth routes are counted per client address in
 * `onRequest`, before authentication, so a flood of bad credentials is limited too; API routes are counted per
 * principal (user or API key, the address when anonymous) in `preHandler`, once the auth hook has set it.
 * IPv6 clients count per /64 (shared/defense/rate-key.ts). A limited request gets 429 RATE_LIMITED with
 * Retry-After and RateLimit-* headers, and one `defense.rate_limited` audit entry per key and window.
 * When Redis fails, auth routes answer 503 (fail closed), the rest are served unlimited (fail open).
 * Counting goes through shared/defense/rate-counter.ts: generous limits are counted locally and added to Redis
 * in batches (no round trip per request), small and fail-closed ones are counted in Redis before answering.
 */
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { AuditActor, AuditLog } from '#shared/audit/record.ts';
import { createRateCounter, type RateCounter } from '#shared/defense/rate-counter.ts';
import { rateKeyForIp } from '#shared/defense/rate-key.ts';
import {
  parseRateLimits,
  RATE_LIMIT_FAILS_OPEN,
  RATE_LIMIT_KEYING,
  type RateLimitGroup,
  rateLimitGroupOf,
} from '#shared/defense/rate-limits.ts';
import { commonError, DomainError, isDomainError } from '#shared/errors.ts';
import type { Principal } from '#shared/identity/principal.ts';
import { settleHook } from './hook-callback.ts';

export interface RateLimitPluginOptions {
  /** The app's main Redis client (fails fast: no offline queue). */
  redis: Redis;
  /** The deployment's Redis key prefix. */
  redisPrefix: string;
  /** RATE_LIMITS as configured (validated by parseConfig); unset gives the defaults. */
  rateLimits: string | undefined;
  audit: AuditLog;
  /** Called for every refused request (metrics, the request-flood scenario); must not throw. */
  onRejected?: ((request: FastifyRequest, group: RateLimitGroup) => void) | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Skip rate limiting: only for routes authenticated by a shared secret from a few known senders, where a
     * per-IP limit would throttle the legitimate sender (Telegram's webhook deliveries).
     */
    rateLimitExempt?: boolean;
  }
}

/** Each route pattern's group, worked out once (the limiter asks several times per request). */
const groupByRoute = new Map<string | undefined, RateLimitGroup>();

function groupOf(request: FastifyRequest): RateLimitGroup {
  const route = request.routeOptions.url;
  let group = groupByRoute.get(route);
  if (group === undefined) {
    group = rateLimitGroupOf(route);
    // Patterns are finite (registered routes plus `undefined` for the 404 handler): no unbounded growth.
    groupByRoute.set(route, group);
  }
  return group;
}

function subjectOf(principal: Principal | undefined, ip: string): string {
  if (principal?.kind === 'user') return `user:${principal.userId}`;
  if (principal?.kind === 'api_key') return `key:${principal.keyId}`;
  return rateKeyForIp(ip);
}

function actorOf(principal: Principal | undefined): AuditActor {
  if (principal?.kind === 'user') return { type: 'user', id: principal.userId };
  if (principal?.kind === 'api_key') return { type: 'api_key', id: principal.keyId };
  return { type: 'anonymous' };
}

export const rateLimitPlugin = fp<RateLimitPluginOptions>(
  async (app: FastifyInstance, options) => {
    const parsed = parseRateLimits(options.rateLimits);
    if (!parsed.ok) throw new Error(`RATE_LIMITS: ${parsed.reason}`);
    const { limits } = parsed;
    const { redis, audit } = options;
    const auditMarkerPrefix = `${options.redisPrefix}:rl-audited:`;
    const pendingAudits = new Set<Promise<void>>();

    /** One audit entry per key and window: SET NX EX marks the window, so a flood writes one row, not one each. */
    async function recordOnce(request: FastifyRequest, key: string, group: RateLimitGroup): Promise<void> {
      const first = await redis.set(`${auditMarkerPrefix}${key}`, '1', 'EX', limits[group].windowSeconds, 'NX');
      if (first !== 'OK') return;
      await audit.record({
        actor: actorOf(request.principal),
        action: 'defense.rate_limited',
        target: { type: 'rate_limit_group', id: group },
        result: 'denied',
        reasonCode: 'RATE_LIMITED',
        source: 'api',
        requestId: request.id,
        ip: request.ip, // stored truncated (/24, /48) by the audit log
      });
    }

    const counter = createRateCounter({
      redis,
      prefix: `${options.redisPrefix}:rl:`,
      onFlushError: (error) => {
        app.log.warn({ err: error instanceof Error ? { message: error.message } : {} }, 'rate limit flush');
      },
    });
    await app.register(fastifyRateLimit, {
      global: false, // our hooks below decide where it runs (including the 404 handler)
      store: counterStore(counter),
      enableDraftSpec: true, // RateLimit-Limit/-Remaining/-Reset (IETF httpapi-ratelimit-headers)
      skipOnError: false, // decided per group in `limit` below
      // The key names its group, so groups never share a counter.
      keyGenerator: (request) => `${groupOf(request)}:${subjectOf(request.principal, request.ip)}`,
      max: (request) => limits[groupOf(request)].max,
      timeWindow: (request) => limits[groupOf(request)].windowSeconds * 1000,
      errorResponseBuilder: (_request, context) =>
        new DomainError('RATE_LIMITED', {
          status: 429,
          message: `Too many requests. Try again in ${Math.max(1, Math.ceil(context.ttl / 1000))} seconds.`,
        }),
      onExceeded: (request, key) => {
        options.onRejected?.(request, groupOf(request));
        const pending = recordOnce(request, key, groupOf(request))
          .catch((error: unknown) => {
            request.log.warn({ err: error instanceof Error ? { message: error.message } : {} }, 'rate-limit audit');
          })
          .finally(() => pendingAudits.delete(pending));
        pendingAudits.add(pending);
      },
    });
    // One handler per group, with its limit and window as numbers: the plugin awaits them when they are functions.
    const handlers = Object.fromEntries(
      (Object.keys(limits) as RateLimitGroup[]).map((group) => [
        group,
        app.rateLimit({ max: limits[group].max, timeWindow: limits[group].windowSeconds * 1000 }),
      ]),
    ) as Record<RateLimitGroup, ReturnType<typeof app.rateLimit>>;

    async function limit(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      try {
        await handlers[groupOf(request)].call(app, request, reply);
      } catch (error) {
        if (isDomainError(error)) throw error; // the 429
        const group = groupOf(request);
        request.log.warn({ group, err: error instanceof Error ? { message: error.message } : {} }, 'rate limit store');
        // Fail open for ordinary routes (Redis down must not become 500s); closed for auth (no brute-force window).
        if (RATE_LIMIT_FAILS_OPEN[group]) return;
        throw commonError('REDIS_UNAVAILABLE');
      }
    }

    /**
     * The common case without the plugin's promises: when our store would answer this hit locally (the key's
     * window is known here and far from its limit, so the answer is "allowed"), count it and send the same
     * RateLimit-* headers the plugin sends. Everything else (a window's first hit, near or over the limit, small
     * limits, Redis errors) goes through @fastify/rate-limit as before. Fail-closed groups never take this path.
     */
    function countedLocally(request: FastifyRequest, reply: FastifyReply, group: RateLimitGroup): boolean {
      if (!RATE_LIMIT_FAILS_OPEN[group]) return false;
      const { max } = limits[group];
      const counted = counter.hitLocally(`${group}:${subjectOf(request.principal, request.ip)}`, max);
      if (!counted) return false;
      reply.header('ratelimit-limit', max);
      reply.header('ratelimit-remaining', Math.max(0, max - counted.current));
      reply.header('ratelimit-reset', Math.ceil(counted.ttl / 1000));
      return true;
    }

    // Root-level hooks also run for the 404 handler, so unmatched URLs are limited (group global) as well.
    // Callback style, so a request its group does not count here costs no promise; a 429 goes to the error handler.
    // Groups keyed by address are counted on request; groups keyed by principal once it is known (preHandler).
    const limitHook =
      (keying: (typeof RATE_LIMIT_KEYING)[RateLimitGroup]) =>
      (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
        const group = groupOf(request);
        if (request.routeOptions.config?.rateLimitExempt || RATE_LIMIT_KEYING[group] !== keying) done();
        else if (countedLocally(request, reply, group)) done();
        else settleHook(limit(request, reply), done);
      };
    app.addHook('onRequest', limitHook('ip'));
    app.addHook('preHandler', limitHook('principal'));

    app.addHook('onClose', async () => {
      await counter.close();
      await Promise.allSettled([...pendingAudits]);
    });
  },
  { name: 'rate-limit', dependencies: ['error-handler'] },
);

type StoreCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * A @fastify/rate-limit store over our counter. Keys start with their group; fail-closed groups are always
 * counted exactly, so a Redis outage refuses them instead of letting attempts through uncounted.
 */
function counterStore(counter: RateCounter) {
  return class CounterStore {
    incr(key: string, callback: StoreCallback, windowMs: number, max: number): void {
      const group = key.slice(0, key.indexOf(':')) as RateLimitGroup;
      let result: ReturnType<RateCounter['hit']>;
      try {
        result = counter.hit(key, windowMs, max, RATE_LIMIT_FAILS_OPEN[group] !== true);
      } catch (error) {
        callback(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (result instanceof Promise) {
        result.then(
          (value) => callback(null, value),
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
      } else callback(null, result);
    }

    child(): CounterStore {
      return this;
    }
  };
}

/**
 * Fastify's `trustProxy` from TRUST_PROXY (config.trustProxy): false (default) ignores X-Forwarded-For; a hop
 * count believes that many proxies; addresses/CIDRs believe only those proxies. Fastify's types leave out the
 * hop count its runtime accepts, so it becomes the equivalent function.
 */
export function trustProxyOption(
  value: boolean | number | string,
): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address, hop) => hop < value : value;
}
