/**
 * Metrics instrumentation of the API process: HTTP latency per route pattern (never the raw URL, which can
 * carry ids), and the gauges set just before each scrape from the data (active decisions, queue depth,
 * open data subject requests, open scan findings).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { WEBHOOK_PATH } from '#bot/run.ts';
import type { Db } from '#shared/db/index.ts';
import type { Defense } from '#shared/defense/index.ts';
import { histogramObserver, type Metrics } from '#shared/metrics/index.ts';
import { dsrGauges, findingGauges } from '#shared/metrics/kpis.ts';
import type { Queues } from '../queues.ts';

export interface MetricsPluginOptions {
  metrics: Metrics;
  db: Db;
  defense: Pick<Defense, 'decisions'>;
  queues?: Queues | undefined;
}

/** Queue states reported as depth. */
const QUEUE_STATES = ['waiting', 'delayed', 'active', 'failed'] as const;

export const metricsPlugin = fp<MetricsPluginOptions>(
  async (app: FastifyInstance, options) => {
    const { metrics } = options;

    // One observer per label set, made once (shared/metrics histogramObserver: no label hashing per request).
    // The set is bounded: route patterns (not URLs) × methods × status codes.
    const durationByLabels = new Map<string, (seconds: number) => void>();
    // Callback style: nothing here waits (a promise per response is measurable on the hot path).
    app.addHook('onResponse', (request, reply, done) => {
      // The registered pattern (`/api/v1/sessions/:id`); unmatched URLs share one label (no cardinality attack).
      const route = request.routeOptions.url ?? 'unmatched';
      const labelKey = `${request.method} ${reply.statusCode} ${route}`;
      let duration = durationByLabels.get(labelKey);
      if (duration === undefined) {
        duration = histogramObserver(metrics.httpRequestDuration, {
          method: request.method,
          route,
          status_code: String(reply.statusCode),
        });
        durationByLabels.set(labelKey, duration);
      }
      duration(reply.elapsedTime / 1000);
      // Webhook deliveries refused: a wrong secret (401) is someone other than Telegram knocking.
      if (request.routeOptions.url === WEBHOOK_PATH && reply.statusCode >= 400) {
        const reason = reply.statusCode === 401 ? 'secret' : reply.statusCode === 400 ? 'body' : 'other';
        metrics.webhookRejections.inc({ reason });
      }
      done();
    });

    metrics.addCollector(() => {
      metrics.decisionsActive.reset();
      for (const decision of options.defense.decisions.cached()) {
        metrics.decisionsActive.inc({ scenario: decision.scenario, kind: decision.kind, scope: decision.scope });
      }
    });
    const { queues } = options;
    if (queues) {
      metrics.addCollector(async () => {
        for (const [name, queue] of Object.entries(queues)) {
          if (typeof queue === 'function' || !('getJobCounts' in queue)) continue;
          const counts = await queue.getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) metrics.queueDepth.set({ queue: name, state }, counts[state] ?? 0);
        }
      });
    }
    metrics.addCollector(async () => {
      const rows = await dsrGauges(options.db);
      if (!rows) return;
      metrics.dsrOpen.reset();
      metrics.dsrOverdue.reset();
      for (const row of rows) {
        metrics.dsrOpen.set({ kind: row.kind }, Number(row.open));
        metrics.dsrOverdue.set({ kind: row.kind }, Number(row.overdue));
      }
    });
    metrics.addCollector(async () => {
      const rows = await findingGauges(options.db);
      if (!rows) return;
      metrics.scanFindings.reset();
      for (const row of rows) metrics.scanFindings.set({ severity: row.severity, kind: row.kind }, Number(row.n));
    });
  },
  { name: 'metrics' },
);
