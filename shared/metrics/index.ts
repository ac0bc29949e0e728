/**
 * Prometheus metrics: one registry per app instance (never prom-client's global default registry, so tests
 * can build several apps in one process), with every metric the product exports as a named object that the
 * capabilities increment. Labels are small closed sets (a method, a result, a route pattern, a queue name):
 * never a user id, Telegram id, IP address, key prefix or any other personal value.
 *
 * @example services.metrics.mfaVerifications.inc({ method: 'totp', result: 'failure' })
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prefix of every metric name (Prometheus naming: `<namespace>_<name>_<unit>[_total]`). */
export const METRICS_PREFIX = 'tsp_';

/** Latency buckets in seconds for HTTP requests: 1 ms to 10 s. */
export const HTTP_LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/** Job duration buckets in seconds: 10 ms to 10 min (exports and scans are slow). */
export const JOB_LATENCY_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 180, 600];

/** Closed label values, so a caller cannot put free text (and so personal data) into a label. */
export const AUTH_METHODS = ['telegram', 'oauth', 'api_key', 'refresh', 'mfa', 'step_up'] as const;
export const AUTH_RESULTS = ['success', 'failure'] as const;
export const MFA_METHODS = ['totp', 'backup_code'] as const;
export const MFA_RESULTS = ['success', 'failure', 'locked'] as const;
export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;

export type AuthMethod = (typeof AUTH_METHODS)[number];
export type AuthResult = (typeof AUTH_RESULTS)[number];
export type MfaMethod = (typeof MFA_METHODS)[number];
export type MfaResult = (typeof MFA_RESULTS)[number];
export type Severity = (typeof SEVERITIES)[number];

/** A function run just before each scrape, to set gauges from the data (queue depth, open DSRs). */
export type MetricsCollector = () => Promise<void> | void;

export interface Metrics {
  registry: Registry;
  /** Sign-in and credential checks: `method` ∈ AUTH_METHODS, `result` ∈ AUTH_RESULTS. */
  authAttempts: Counter<'method' | 'result'>;
  /** Second-factor checks: `method` ∈ MFA_METHODS, `result` ∈ MFA_RESULTS. */
  mfaVerifications: Counter<'method' | 'result'>;
  /** Requests refused by a rate limit: `group` (auth, api, global) or `bot`. */
  rateLimitRejections: Counter<'group'>;
  /** Decisions in force now, by scenario, kind and scope (set at scrape from the decision cache). */
  decisionsActive: Gauge<'scenario' | 'kind' | 'scope'>;
  /** Decisions issued: by scenario, kind and whether a scenario (automated) or an admin issued it. */
  decisionsIssued: Counter<'scenario' | 'kind' | 'automated'>;
  /** Requests or updates refused because of a decision: `edge` (api, bot) and `kind`. */
  decisionEnforcements: Counter<'edge' | 'kind'>;
  /** Scenario buckets that overflowed (alert-only scenarios included). */
  scenarioOverflows: Counter<'scenario'>;
  /** Telegram webhook requests refused: `reason` (secret, body, ...). */
  webhookRejections: Counter<'reason'>;
  /** Data subject requests open now, by kind. */
  dsrOpen: Gauge<'kind'>;
  /** Data subject requests past their due date and not answered, by kind. */
  dsrOverdue: Gauge<'kind'>;
  /** Rows removed by retention jobs, by table. */
  retentionRowsRemoved: Counter<'table'>;
  /** Open findings of the latest scan, by severity and kind (dependency, config, http). */
  scanFindings: Gauge<'severity' | 'kind'>;
  /** Jobs waiting or delayed per queue (set at scrape). */
  queueDepth: Gauge<'queue' | 'state'>;
  /** Job processing time per queue and outcome. */
  jobDuration: Histogram<'queue' | 'status'>;
  /** HTTP latency per route pattern (never the raw URL), method and status code. */
  httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  /** Audit events recorded, by event type (`auth.login_failed`, ...); types are code constants. */
  securityEvents: Counter<'type'>;
  /** Registers a function run before every scrape. */
  addCollector(collector: MetricsCollector): void;
  /** Runs the collectors and renders the registry in Prometheus text format. */
  scrape(): Promise<string>;
}

export interface CreateMetricsOptions {
  /** Also export prom-client's process metrics (CPU, memory, event loop); default true. */
  processMetrics?: boolean;
}

/**
 * Creates a registry with every metric of the product. Call once per app instance (server/services.ts).
 * @example const metrics = createMetrics(); metrics.authAttempts.inc({ method: 'telegram', result: 'success' });
 */
export function createMetrics(options: CreateMetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX });
  const registers = [registry];
  const name = (base: string) => `${METRICS_PREFIX}${base}`;
  const collectors: MetricsCollector[] = [];

  const metrics: Metrics = {
    registry,
    authAttempts: new Counter({
      name: name('auth_attempts_total'),
      help: 'Authentication attempts by method and result.',
      labelNames: ['method', 'result'],
      registers,
    }),
    mfaVerifications: new Counter({
      name: name('mfa_verifications_total'),
      help: 'Second-factor verifications by method and result.',
      labelNames: ['method', 'result'],
      registers,
    }),
    rateLimitRejections: new Counter({
      name: name('rate_limit_rejections_total'),
      help: 'Requests refused by a rate limit, by endpoint group.',
      labelNames: ['group'],
      registers,
    }),
    decisionsActive: new Gauge({
      name: name('decisions_active'),
      help: 'Intrusion-detection decisions in force, by scenario, kind and scope.',
      labelNames: ['scenario', 'kind', 'scope'],
      registers,
    }),
    decisionsIssued: new Counter({
      name: name('decisions_issued_total'),
      help: 'Decisions issued, by scenario, kind and whether they were automated.',
      labelNames: ['scenario', 'kind', 'automated'],
      registers,
    }),
    decisionEnforcements: new Counter({
      name: name('decision_enforcements_total'),
      help: 'Requests and updates refused because of a decision, by edge and kind.',
      labelNames: ['edge', 'kind'],
      registers,
    }),
    scenarioOverflows: new Counter({
      name: name('scenario_overflows_total'),
      help: 'Intrusion-detection buckets that overflowed, by scenario.',
      labelNames: ['scenario'],
      registers,
    }),
    webhookRejections: new Counter({
      name: name('webhook_rejections_total'),
      help: 'Telegram webhook requests refused, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    dsrOpen: new Gauge({
      name: name('dsr_open'),
      help: 'Data subject requests open, by kind.',
      labelNames: ['kind'],
      registers,
    }),
    dsrOverdue: new Gauge({
      name: name('dsr_overdue'),
      help: 'Data subject requests past their due date and not answered, by kind.',
      labelNames: ['kind'],
      registers,
    }),
    retentionRowsRemoved: new Counter({
      name: name('retention_rows_removed_total'),
      help: 'Rows removed by retention jobs, by table.',
      labelNames: ['table'],
      registers,
    }),
    scanFindings: new Gauge({
      name: name('scan_findings'),
      help: 'Findings of the latest vulnerability scan, by severity and kind.',
      labelNames: ['severity', 'kind'],
      registers,
    }),
    queueDepth: new Gauge({
      name: name('queue_depth'),
      help: 'Jobs waiting, delayed or active per queue.',
      labelNames: ['queue', 'state'],
      registers,
    }),
    jobDuration: new Histogram({
      name: name('job_duration_seconds'),
      help: 'Job processing time per queue and outcome.',
      labelNames: ['queue', 'status'],
      buckets: JOB_LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: name('http_request_duration_seconds'),
      help: 'HTTP request latency per route pattern, method and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    securityEvents: new Counter({
      name: name('security_events_total'),
      help: 'Audit events recorded, by event type.',
      labelNames: ['type'],
      registers,
    }),
    addCollector(collector) {
      collectors.push(collector);
    },
    async scrape() {
      // A failing collector (Redis down) must not cost the whole scrape: its gauges keep their last values.
      await Promise.allSettled(collectors.map(async (collector) => collector()));
      return registry.metrics();
    },
  };
  return metrics;
}

/** The content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** prom-client 15's per-label-set entry of a Histogram (what its own `observe` updates). */
interface HistogramEntry {
  labels: object;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}
interface HistogramInternals {
  hashMap?: Record<string, HistogramEntry>;
  upperBounds?: number[];
}

/**
 * An observer for one label set of a Histogram, for hot paths. prom-client validates, sorts and hashes the
 * labels on every observation (a measurable share of a cheap request); this finds the label set's entry once,
 * through prom-client's own `observe`, and then updates it as that would: same buckets, sum and count, so the
 * output, `reset()` and aggregation stay prom-client's. After a reset (a new entry map), a `zero()` or `remove()`
 * (a new or no entry under its key), or on a prom-client whose layout differs, it goes through the public
 * `observe` again.
 */
export function histogramObserver<T extends string>(
  histogram: Histogram<T>,
  labels: Partial<Record<T, string | number>>,
): (value: number) => void {
  const internals = histogram as unknown as HistogramInternals;
  let map: Record<string, HistogramEntry> | undefined;
  let key: string | undefined;
  let entry: HistogramEntry | undefined;
  return (value) => {
    const bounds = internals.upperBounds;
    if (
      entry !== undefined &&
      internals.hashMap === map &&
      map?.[key as string] === entry &&
      bounds !== undefined &&
      Number.isFinite(value)
    ) {
      entry.sum += value;
      entry.count += 1;
      for (const bound of bounds) {
        if (value <= bound) {
          entry.bucketValues[bound] = (entry.bucketValues[bound] ?? 0) + 1;
          break;
        }
      }
      return;
    }
    histogram.observe(labels, value);
    map = internals.hashMap;
    key = map ? Object.keys(map).find((candidate) => map?.[candidate]?.labels === labels) : undefined;
    entry = key === undefined ? undefined : map?.[key];
  };
}
