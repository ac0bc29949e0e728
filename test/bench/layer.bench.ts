/**
 * The whole security layer against none, each server in a process of its own (test/bench/layer-server.ts),
 * loaded by autocannon from this process, in alternating rounds:
 * 1. GET /api/v1/me (JWT, session, rate limit, decisions, headers, validation, one DB read) against the same
 *    handler and DB read on bare Fastify. Goal: at most 5 % slower at p50 (10 % allowed).
 * 2. GET /healthz through the layer against bare Fastify. Goal: at least 0.5x the requests per second.
 * 5. Server RSS under that load, with the layer against without. Goal: at most 1.2x.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { ROOT } from '../helpers/paths.ts';
import type { BenchFigure } from './run.ts';
import { alternate, ratios, spread } from './side-by-side.ts';

const ROUNDS = 5;
/** /healthz rounds are short and their ratio swings with the machine's other load: more pairs, steadier median. */
const HEALTH_ROUNDS = 9;
const SECONDS = 3;
const CONNECTIONS = 10;

interface Server {
  child: ChildProcess;
  url: string;
  token: string;
}

async function startServer(variant: 'layer' | 'bare'): Promise<Server> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/bench/layer-server.ts', variant], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`layer-server ${variant} exited with ${code}`)));
  });
  const { url, token } = JSON.parse(first) as { url: string; token: string };
  return { child, url, token };
}

async function stopServer(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.stdin?.end();
  await exited;
}

/** Resident memory of a process in bytes (Linux). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  /** Highest RSS sampled during the load. */
  rss: number;
}

async function load(server: Server, path: string): Promise<Load> {
  let rss = rssOf(server.child.pid as number);
  const sampler = setInterval(() => {
    rss = Math.max(rss, rssOf(server.child.pid as number));
  }, 100);
  const result = await autocannon({
    url: `${server.url}${path}`,
    headers: { authorization: `Bearer ${server.token}` },
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  clearInterval(sampler);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${path}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, rss };
}

const fmt = (value: number, digits = 2) => value.toFixed(digits);
/** Median p50 and p99 of the rounds (autocannon's resolution: whole milliseconds below a few ms). */
const latencies = (rounds: Load[]) =>
  `p50 ${spread(rounds.map((r) => r.p50)).median} ms, p99 ${spread(rounds.map((r) => r.p99)).median} ms`;

export async function run(): Promise<BenchFigure[]> {
  const [layer, bare] = await Promise.all([startServer('layer'), startServer('bare')]);
  try {
    const me = await alternate(
      { bare: () => load(bare, '/api/v1/me'), layer: () => load(layer, '/api/v1/me') },
      ROUNDS,
    );
    const health = await alternate(
      { bare: () => load(bare, '/healthz'), layer: () => load(layer, '/healthz') },
      HEALTH_ROUNDS,
    );

    const meP50 = ratios(
      me.bare.map((r) => r.p50),
      me.layer.map((r) => r.p50),
    );
    const meRps = ratios(
      me.bare.map((r) => r.rps),
      me.layer.map((r) => r.rps),
    );
    const healthRps = ratios(
      health.bare.map((r) => r.rps),
      health.layer.map((r) => r.rps),
    );
    const rssBare = spread([...me.bare, ...health.bare].map((r) => r.rss));
    const rssLayer = spread([...me.layer, ...health.layer].map((r) => r.rss));
    const mb = (bytes: number) => bytes / 1024 / 1024;
    const bareMe = spread(me.bare.map((r) => r.rps));
    const layerMe = spread(me.layer.map((r) => r.rps));
    const bareHealth = spread(health.bare.map((r) => r.rps));
    const layerHealth = spread(health.layer.map((r) => r.rps));
    return [
      {
        name: 'GET /api/v1/me, no security layer (same DB read)',
        value: bareMe.median,
        unit: 'req/s',
        min: bareMe.min,
        max: bareMe.max,
        note: latencies(me.bare),
      },
      {
        name: 'GET /api/v1/me, whole security layer',
        value: layerMe.median,
        unit: 'req/s',
        min: layerMe.min,
        max: layerMe.max,
        note: `p50 ${fmt(meP50.median)}x of bare (${fmt(meP50.min)}-${fmt(meP50.max)}), req/s ${fmt(meRps.median)}x; ${latencies(me.layer)}`,
        goal: 'p50 <= 1.05x bare (1.10x allowed)',
        meets: meP50.median <= 1.1,
      },
      {
        name: 'GET /healthz, bare Fastify',
        value: bareHealth.median,
        unit: 'req/s',
        min: bareHealth.min,
        max: bareHealth.max,
        note: latencies(health.bare),
      },
      {
        name: 'GET /healthz, whole security layer',
        value: layerHealth.median,
        unit: 'req/s',
        min: layerHealth.min,
        max: layerHealth.max,
        note: `${fmt(healthRps.median)}x of bare (${fmt(healthRps.min)}-${fmt(healthRps.max)}); ${latencies(health.layer)}`,
        goal: '>= 0.5x bare',
        meets: healthRps.median >= 0.5,
      },
      {
        name: 'server RSS under load, no security layer',
        value: mb(rssBare.median),
        unit: 'MB',
        min: mb(rssBare.min),
        max: mb(rssBare.max),
      },
      {
        name: 'server RSS under load, whole security layer',
        value: mb(rssLayer.median),
        unit: 'MB',
        min: mb(rssLayer.min),
        max: mb(rssLayer.max),
        note: `${fmt(rssLayer.median / rssBare.median)}x of bare`,
        goal: '<= 1.2x bare',
        meets: rssLayer.median / rssBare.median <= 1.2,
      },
    ];
  } finally {
    await Promise.all([stopServer(layer), stopServer(bare)]);
  }
}
