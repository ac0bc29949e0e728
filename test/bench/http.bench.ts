/**
 * The API's fixed cost per request, side by side in one run: a bare Fastify answering /healthz against our
 * full app (error handler, security headers, service guard, request logging, OpenAPI) answering the same.
 */
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { buildTestApp } from '../helpers/build-test-app.ts';
import type { BenchFigure } from './run.ts';

const DURATION_SECONDS = 5;
const CONNECTIONS = 10;

async function load(url: string): Promise<{ rps: number; p50: number; p99: number }> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_SECONDS });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

export async function run(): Promise<BenchFigure[]> {
  const bare = Fastify();
  bare.get('/healthz', async () => ({ status: 'ok' }));
  const bareAddress = await bare.listen({ port: 0, host: '127.0.0.1' });
  const ours = await buildTestApp();
  const oursAddress = await ours.app.listen({ port: 0, host: '127.0.0.1' });

  await load(`${bareAddress}/healthz`); // warm both up before measuring
  await load(`${oursAddress}/healthz`);
  const a = await load(`${bareAddress}/healthz`);
  const b = await load(`${oursAddress}/healthz`);
  await bare.close();
  await ours.close();
  return [
    { name: 'GET /healthz, bare Fastify', value: a.rps, unit: 'req/s', note: `p50 ${a.p50} ms, p99 ${a.p99} ms` },
    {
      name: 'GET /healthz, our app (all plugins)',
      value: b.rps,
      unit: 'req/s',
      note: `${(b.rps / a.rps).toFixed(2)}x of bare; p50 ${b.p50} ms, p99 ${b.p99} ms`,
    },
  ];
}
