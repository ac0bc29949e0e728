/**
 * Enforcement of intrusion-detection decisions at the API edge, and the API's detection sensors.
 *
 * - `decisionsPlugin` (registered before rate limiting and auth): refuses a banned or throttled address
 *   (IPv4, or IPv6 /64) before any other work, and reports 404s on routes with ids to the enumeration
 *   scenario.
 * - `principalDecisionsPlugin` (registered after auth): refuses a banned or throttled user or API key, and
 *   second-factor routes to a user whose factor is locked out.
 * Both look decisions up in the process's cache (kept current over Redis pub/sub): when no decision is active
 * the check is one `Map.size` read; otherwise one memoised HMAC and a Map lookup per identity. Never Redis.
 * Answers: 403 ACCESS_SUSPENDED (ban), 429 THROTTLED (throttle), 429 SECOND_FACTOR_LOCKED_OUT (lockout).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sha256Hex } from '#shared/crypto/hash.ts';
import type { CachedDecision, DecisionTarget, Defense } from '#shared/defense/index.ts';
import type { Metrics } from '#shared/metrics/index.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served even to a target of a decision (health checks, the subject's review request). */
    decisionExempt?: boolean;
  }
}

export interface DecisionsPluginOptions {
  defense: Pick<Defense, 'check' | 'observe'>;
  metrics?: Metrics | undefined;
}

/** Routes that check a second factor: the only ones a factor lockout closes. */
const SECOND_FACTOR_ROUTE = /^\/api\/v1\/(auth\/step-up|auth\/mfa\/|mfa(\/|$))/;
/** Health probes answer whatever the caller's standing (load balancers share addresses with people). */
const ALWAYS_SERVED = new Set(['/healthz', '/readyz']);

function isExempt(request: FastifyRequest): boolean {
  const url = request.routeOptions.url;
  return request.routeOptions.config?.decisionExempt === true || (url !== undefined && ALWAYS_SERVED.has(url));
}

function refuse(reply: FastifyReply, decision: CachedDecision, metrics: Metrics | undefined) {
  metrics?.decisionEnforcements.inc({ edge: 'api', kind: decision.kind });
  const retryAfter = Math.max(1, Math.ceil((decision.expiresAtMs - Date.now()) / 1000));
  reply.header('retry-after', String(retryAfter));
  if (decision.kind === 'ban') {
    return reply.status(403).send({
      error: {
        code: 'ACCESS_SUSPENDED',
        message: `Access is suspended after unusual activity. Try again in ${retryAfter} seconds, or ask for a review.`,
      },
    });
  }
  if (decision.kind === 'factor_lockout') {
    return reply.status(429).send({
      error: {
        code: 'SECOND_FACTOR_LOCKED_OUT',
        message: `Too many wrong codes. Second-factor checks are paused for ${retryAfter} seconds.`,
      },
    });
  }
  return reply.status(429).send({
    error: { code: 'THROTTLED', message: `Too many requests. Try again in ${retryAfter} seconds.` },
  });
}

export const decisionsPlugin = fp<DecisionsPluginOptions>(
  async (app: FastifyInstance, options) => {
    const { defense, metrics } = options;

    // Callback style, not async: on the hot path a promise per request is measurable (test/bench/decisions.bench.ts).
    app.addHook('onRequest', (request, reply, done) => {
      const decision = defense.check([{ scope: 'ip', value: request.ip }]);
      // A factor lockout is about a person, never an address: only bans and throttles apply here.
      if (decision && decision.kind !== 'factor_lockout' && !isExempt(request)) {
        refuse(reply, decision, metrics);
        return; // answered: the chain stops here
      }
      done();
    });

    // Enumeration sensor: a 404 on a route that names a resource by id. Distinct ids count, not repeats.
    app.addHook('onResponse', (request, reply, done) => {
      done();
      if (reply.statusCode !== 404) return;
      const url = request.routeOptions.url;
      const params = request.params as Record<string, unknown> | undefined;
      if (!url?.includes(':') || !params || Object.keys(params).length === 0) return;
      const principal = request.principal;
      // After the answer has gone: detection never delays a response (observe never throws).
      void defense.observe({
        action: 'defense.not_found',
        result: 'failure',
        actor:
          principal?.kind === 'user'
            ? { type: 'user', id: principal.userId }
            : principal?.kind === 'api_key'
              ? { type: 'api_key', id: principal.keyId }
              : { type: 'anonymous' },
        ip: request.ip,
        source: 'api',
        // A hash of the ids asked for: enough to tell them apart, nothing to read back.
        target: { type: 'resource', id: sha256Hex(`${url}\u0000${JSON.stringify(params)}`).slice(0, 24) },
      });
    });
  },
  { name: 'decisions', dependencies: ['error-handler'] },
);

export const principalDecisionsPlugin = fp<DecisionsPluginOptions>(
  async (app: FastifyInstance, options) => {
    const { defense, metrics } = options;
    app.addHook('onRequest', (request, reply, done) => {
      const principal = request.principal;
      if (!principal) {
        done();
        return;
      }
      const targets: DecisionTarget[] =
        principal.kind === 'user'
          ? [{ scope: 'user', value: principal.userId }]
          : [
              { scope: 'api_key', value: principal.keyId },
              { scope: 'user', value: principal.userId },
            ];
      const decision = defense.check(targets);
      const applies =
        decision !== undefined &&
        !isExempt(request) &&
        (decision.kind !== 'factor_lockout' || SECOND_FACTOR_ROUTE.test(request.routeOptions.url ?? ''));
      if (decision && applies) {
        refuse(reply, decision, metrics);
        return;
      }
      done();
    });
  },
  { name: 'principal-decisions', dependencies: ['auth', 'decisions'] },
);

/**
 * The API's detection sensors, handed to the rate-limit and auth plugins: every refused request and every
 * API-key check is counted, and the failures are offered to the scenarios (request flood, key stuffing).
 */
export function apiSensors(defense: Pick<Defense, 'observe'>, metrics: Metrics) {
  const actorOf = (request: FastifyRequest) =>
    request.principal?.kind === 'user'
      ? { type: 'user', id: request.principal.userId }
      : request.principal?.kind === 'api_key'
        ? { type: 'api_key', id: request.principal.keyId }
        : { type: 'anonymous' };
  return {
    onRejected(request: FastifyRequest, group: string) {
      metrics.rateLimitRejections.inc({ group });
      // Not awaited (the rate limiter's callback is synchronous); observe never throws.
      void defense.observe({
        action: 'defense.rate_limited',
        result: 'denied',
        actor: actorOf(request),
        ip: request.ip,
        source: 'api',
      });
    },
    async onApiKeyResult(request: FastifyRequest, ok: boolean, fingerprint: string) {
      metrics.authAttempts.inc({ method: 'api_key', result: ok ? 'success' : 'failure' });
      if (ok) return;
      await defense.observe({
        action: 'auth.api_key',
        result: 'failure',
        actor: { type: 'anonymous' },
        ip: request.ip,
        source: 'api',
        target: { type: 'api_key_fingerprint', id: fingerprint },
      });
    },
  };
}
