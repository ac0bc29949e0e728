/**
 * The whole security layer's cost per request, side by side in one run: bare Fastify answering /healthz
 * against our app (security headers, CORS, service guard, rate limit on Redis, error handler, logging)
 * answering /healthz, and an authenticated API route (JWT verify, session read, per-principal rate limit).
 * Rounds alternate A/B so drift on the shared machine hits every variant alike; medians are reported.
 */
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { buildTestApp } from '../helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '../helpers/create-test-bot.ts';
import { bearer, signIn } from '../helpers/sign-in.ts';
import type { BenchFigure } from './run.ts';

const DURATION_SECONDS = 3;
const CONNECTIONS = 10;
const ROUNDS = 3;

interface Load {
  rps: number;
  p50: number;
  p99: number;
}

async function load(url: string, headers: Record<string, string> = {}): Promise<Load> {
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION_SECONDS });
  if (result.non2xx > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers (a limit too low for the bench?)`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function summary(loads: Load[]): Load {
  return {
    rps: median(loads.map((x) => x.rps)),
    p50: median(loads.map((x) => x.p50)),
    p99: median(loads.map((x) => x.p99)),
  };
}

export async function run(): Promise<BenchFigure[]> {
  const bare = Fastify();
  bare.get('/healthz', async () => ({ status: 'ok' }));
  const bareAddress = await bare.listen({ port: 0, host: '127.0.0.1' });
  // Limits far above what the bench can send: the limiter runs (one Redis round trip) but never refuses.
  const ours = await buildTestApp({
    env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=1000/60,api=1000000/1,global=1000000/1' },
  });
  const oursAddress = await ours.app.listen({ port: 0, host: '127.0.0.1' });
  const user = await signIn(ours.app, { id: 700_000_001, first_name: 'Bench' });
  const auth = bearer(user.accessToken);

  const variants = {
    bare: () => load(`${bareAddress}/healthz`),
    healthz: () => load(`${oursAddress}/healthz`),
    authed: () => load(`${oursAddress}/api/v1/sessions`, auth),
  };
  for (const measure of Object.values(variants)) await measure(); // warm-up
  const results: Record<keyof typeof variants, Load[]> = { bare: [], healthz: [], authed: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order each round (A B C, C B A, ...).
    const order = (Object.keys(variants) as (keyof typeof variants)[]).slice();
    if (round % 2 === 1) order.reverse();
    for (const name of order) results[name].push(await variants[name]());
  }
  await bare.close();
  await ours.close();

  const a = summary(results.bare);
  const b = summary(results.healthz);
  const c = summary(results.authed);
  return [
    { name: 'GET /healthz, bare Fastify', value: a.rps, unit: 'req/s', note: `p50 ${a.p50} ms, p99 ${a.p99} ms` },
    {
      name: 'GET /healthz, whole security layer',
      value: b.rps,
      unit: 'req/s',
      note: `${(b.rps / a.rps).toFixed(2)}x of bare (goal >= 0.5x); p50 ${b.p50} ms, p99 ${b.p99} ms`,
    },
    {
      name: 'GET /api/v1/sessions, JWT + session + per-user limit',
      value: c.rps,
      unit: 'req/s',
      note: `${(c.rps / a.rps).toFixed(2)}x of bare; p50 ${c.p50} ms, p99 ${c.p99} ms`,
    },
  ];
}
