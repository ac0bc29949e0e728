/**
 * Telegram updates through the whole bot stack against a bare route, each server in a process of its own
 * (test/bench/webhook-server.ts), loaded by autocannon from this process, in alternating rounds:
 * POST /telegram/webhook with `/help` from people who saw the consent step through (secret header, intake with
 * the Redis update_id claim, decision guard, per-person rate limit, conversations, consent gate, routing, the
 * reply through the Bot API client answered in-process, or, as /help is a reply-only command, in the webhook
 * response itself) against bare Fastify parsing the same JSON and answering 200.
 * Goal: at least 5,000 updates/s per process. Every update carries a fresh update_id (the intake drops repeats),
 * and the run fails unless every 200 from the bot produced exactly one reply (a sendMessage call or a webhook
 * reply).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import autocannon from 'autocannon';
import { BOT_BURST_UPDATES, BOT_BURST_WINDOW_MS } from '#bot/middleware/decisions.ts';
import { ROOT } from '../helpers/paths.ts';
import type { BenchFigure } from './run.ts';
import { alternate, ratios, spread } from './side-by-side.ts';

type Variant = 'webhook' | 'bare-webhook';

const ROUNDS = 5;
/**
 * Updates per load, 1.5-2.5 s of each on a 2-core machine. A fixed count rather than a duration: autocannon
 * then waits for every answer, so the child's counts can be held exactly against the client's.
 */
const AMOUNT: Record<Variant, number> = { webhook: 3_000, 'bare-webhook': 12_000 };
/**
 * Concurrent deliveries, as Telegram makes them: setWebhook's `max_connections` defaults to 40 and bot/run.ts
 * keeps the default. Both sides get the same number. (Figures before 2026-11-28 used 10.)
 */
const CONNECTIONS = Number(process.env.WEBHOOK_BENCH_CONNECTIONS ?? 40);
const GOAL_UPDATES_PER_SECOND = 5_000;
/**
 * Senders, each registered with their consent choices saved, taken in turn. The bot's decision guard lets one
 * person send BOT_BURST_UPDATES updates per BOT_BURST_WINDOW_MS before the flood scenario counts them (and then
 * throttles, with one reply and silence after), so the pool is what keeps each person within ordinary use:
 * it carries up to USERS * BOT_BURST_UPDATES / window updates/s; a faster run fails the reply check.
 */
const USERS = 4_000;
const POOL_RATE = (USERS * BOT_BURST_UPDATES * 1000) / BOT_BURST_WINDOW_MS;

interface Server {
  variant: Variant;
  child: ChildProcess;
  lines: Interface;
  url: string;
  secret: string;
  users: number[];
}

/** The child's counters: answers on the webhook path (200 or not, still in flight) and Bot API calls made. */
interface Stats {
  ok: number;
  notOk: number;
  inFlight: number;
  /** Answers that carried the reply themselves (grammY's webhook reply). */
  webhookReplies: number;
  sendMessage: number;
  otherCalls: number;
}

async function startServer(variant: Variant): Promise<Server> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', 'test/bench/webhook-server.ts', variant, String(USERS)],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`webhook-server ${variant} exited with ${code}`)));
  });
  const { url, secret, users } = JSON.parse(first) as { url: string; secret: string; users: number[] };
  return { variant, child, lines, url, secret, users };
}

async function stopServer(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.stdin?.end();
  await exited;
}

/** The child's counters once every request it took has been answered. */
async function settledStats(server: Server): Promise<Stats> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const answer = new Promise<string>((resolve) => server.lines.once('line', resolve));
    server.child.stdin?.write('stats\n');
    const stats = JSON.parse(await answer) as Stats;
    if (stats.inFlight === 0) return stats;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${server.variant}: requests still in flight after 5 s`);
}

// Update and message ids: fresh for every request of the run (the intake claims each update_id once).
let updateId = 1 + Math.floor(Math.random() * 1_000_000_000);
let messageId = 1;

function helpUpdate(from: number): string {
  return JSON.stringify({
    update_id: updateId++,
    message: {
      message_id: messageId++,
      date: Math.floor(Date.now() / 1000),
      from: { id: from, is_bot: false, first_name: 'Bench', language_code: 'en' },
      chat: { id: from, type: 'private', first_name: 'Bench' },
      text: '/help',
      entities: [{ type: 'bot_command', offset: 0, length: 5 }],
    },
  });
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
}

async function load(server: Server): Promise<Load> {
  let sender = 0;
  const users = server.users.length > 0 ? server.users : [710_000_001];
  const result = await autocannon({
    url: server.url,
    connections: CONNECTIONS,
    amount: AMOUNT[server.variant],
    // autocannon notices the count is reached only on its sampling tick: a fine tick keeps `duration` exact.
    sampleInt: 10,
    requests: [
      {
        method: 'POST',
        path: '/telegram/webhook',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': server.secret },
        setupRequest: (request) => ({ ...request, body: helpUpdate(users[sender++ % users.length] as number) }),
      },
    ],
  });
  return {
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

const fmt = (value: number, digits = 2) => value.toFixed(digits);

export async function run(): Promise<BenchFigure[]> {
  const [webhook, bare] = await Promise.all([startServer('webhook'), startServer('bare-webhook')]);
  try {
    // Totals over every load, the warm-up included, to hold against the child's own counts.
    const totals = {
      webhook: { ok: 0, non2xx: 0, errors: 0, loads: 0 },
      bare: { ok: 0, non2xx: 0, errors: 0, loads: 0 },
    };
    const counted = (name: 'webhook' | 'bare', server: Server) => async () => {
      const result = await load(server);
      totals[name].ok += result.ok;
      totals[name].non2xx += result.non2xx;
      totals[name].errors += result.errors;
      totals[name].loads += 1;
      return result;
    };
    const rounds = await alternate({ bare: counted('bare', bare), webhook: counted('webhook', webhook) }, ROUNDS);

    // Every update the bot's route answered 200 produced exactly one reply, and the server's answers are the
    // client's (autocannon waits for every answer of its fixed count).
    const stats = await settledStats(webhook);
    const problems: string[] = [];
    const replies = stats.sendMessage + stats.webhookReplies;
    if (replies !== stats.ok) {
      problems.push(
        `${stats.ok} updates answered 200 but ${replies} replies (${stats.sendMessage} sendMessage calls, ${stats.webhookReplies} in the response; above ${POOL_RATE} updates/s the sender pool trips the flood guard)`,
      );
    }
    if (stats.ok !== totals.webhook.ok || stats.notOk !== totals.webhook.non2xx) {
      problems.push(
        `the server answered ${stats.ok} with 200 and ${stats.notOk} otherwise, autocannon counted ${totals.webhook.ok} 2xx and ${totals.webhook.non2xx} non-2xx`,
      );
    }
    if (stats.otherCalls > 0) problems.push(`${stats.otherCalls} Bot API calls other than sendMessage`);
    if (stats.ok === 0) problems.push('no update was answered 200');
    if (problems.length > 0) throw new Error(`webhook bench: ${problems.join('; ')}`);

    const bareRps = spread(rounds.bare.map((r) => r.rps));
    const webhookRps = spread(rounds.webhook.map((r) => r.rps));
    const relative = ratios(
      rounds.bare.map((r) => r.rps),
      rounds.webhook.map((r) => r.rps),
    );
    const p50 = (loads: Load[]) => spread(loads.map((r) => r.p50)).median;
    const p99 = (loads: Load[]) => spread(loads.map((r) => r.p99)).median;
    return [
      {
        name: 'POST /telegram/webhook, bare Fastify (parse JSON, 200)',
        value: bareRps.median,
        unit: 'updates/s',
        min: bareRps.min,
        max: bareRps.max,
        note: `p50 ${p50(rounds.bare)} ms, p99 ${p99(rounds.bare)} ms; non-2xx ${totals.bare.non2xx}, errors ${totals.bare.errors}`,
      },
      {
        name: 'POST /telegram/webhook, whole bot stack (/help reply)',
        value: webhookRps.median,
        unit: 'updates/s',
        min: webhookRps.min,
        max: webhookRps.max,
        note: `${fmt(relative.median)}x of bare (${fmt(relative.min)}-${fmt(relative.max)}); p50 ${p50(rounds.webhook)} ms, p99 ${p99(rounds.webhook)} ms; ${stats.ok} updates answered 200, ${replies} replies (${stats.webhookReplies} in the response); non-2xx ${totals.webhook.non2xx}, errors ${totals.webhook.errors}`,
        goal: `>= ${GOAL_UPDATES_PER_SECOND.toLocaleString('en')} updates/s per process`,
        meets: webhookRps.median >= GOAL_UPDATES_PER_SECOND,
      },
    ];
  } finally {
    await Promise.all([stopServer(webhook), stopServer(bare)]);
  }
}
