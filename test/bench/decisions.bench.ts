/**
 * Decision enforcement per request (CPU time), side by side in alternating rounds: a bare Fastify route, the same route
 * behind the decision hook with no decision active, and behind it with 200 active decisions that do not
 * match the caller (the hook then hashes the address and looks it up). Every Redis command the defense's
 * clients send during the measured requests is counted: the goal is none (the cache is local, kept current
 * by pub/sub), and a per-request cost within a few microseconds.
 *
 *   npm run bench decisions
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { decisionsPlugin } from '#server/plugins/decisions.ts';
import { errorHandlerPlugin } from '#server/plugins/error-handler.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';
import { connectDatabase } from '#shared/db/index.ts';
import { createDefense, type Defense } from '#shared/defense/index.ts';
import { createTestRedis } from '../helpers/test-redis.ts';
import type { BenchFigure } from './run.ts';
import { alternate, ratios, spread } from './side-by-side.ts';

const ROUNDS = 7;
const REQUESTS = 3_000;
const DECISIONS = 200;
const CALLER_IP = '198.51.100.1';

/** Counts the commands a client sends (the bench's own instrumentation of the defense's connections). */
function countCommands(client: Redis): { count: () => number } {
  let sent = 0;
  const original = client.sendCommand.bind(client);
  client.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], stream?: unknown) => {
    sent += 1;
    return original(command, stream as never);
  }) as Redis['sendCommand'];
  return { count: () => sent };
}

async function appWith(defense: Defense | null): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(errorHandlerPlugin);
  if (defense) await app.register(decisionsPlugin, { defense });
  app.get('/x', async () => ({ ok: true }));
  await app.ready();
  return app;
}

/** CPU microseconds per request (user + system): steadier than wall time on a shared, loaded machine. */
async function cpuPerRequest(app: FastifyInstance): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) {
    const response = await app.inject({ method: 'GET', url: '/x', remoteAddress: CALLER_IP });
    if (response.statusCode !== 200) throw new Error(`unexpected ${response.statusCode}`);
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / REQUESTS;
}

export async function run(): Promise<BenchFigure[]> {
  const database = await connectDatabase({ pgliteDir: 'memory://' });
  await database.migrate();
  const redis = await createTestRedis();
  const subscribers: Redis[] = [];
  const newDefense = (prefix: string) =>
    createDefense({
      db: database.db,
      redis: redis.client,
      createSubscriber: () => {
        const subscriber = redis.createBullConnection();
        subscribers.push(subscriber);
        return subscriber;
      },
      prefix,
      masterKey: randomBytesOf(32),
    });
  const empty = newDefense(`${redis.prefix}:empty`);
  const busy = newDefense(`${redis.prefix}:busy`);
  await empty.start();
  await busy.start();
  for (let index = 0; index < DECISIONS; index++) {
    await busy.decisions.issue({
      scenario: 'manual',
      kind: 'ban',
      target: { scope: 'ip', value: `203.0.${Math.floor(index / 250)}.${index % 250}` },
      reason: 'BENCH',
      automated: false,
      durationSeconds: 3600,
    });
  }
  if (busy.decisions.cached().length !== DECISIONS) throw new Error('cache not filled');

  const bare = await appWith(null);
  const hookEmpty = await appWith(empty);
  const hookBusy = await appWith(busy);
  const main = countCommands(redis.client);
  const subscriberCounts = subscribers.map(countCommands);
  const commandsBefore = main.count() + subscriberCounts.reduce((sum, counter) => sum + counter.count(), 0);

  const results = await alternate(
    { bare: () => cpuPerRequest(bare), empty: () => cpuPerRequest(hookEmpty), busy: () => cpuPerRequest(hookBusy) },
    ROUNDS,
  );
  const requests = REQUESTS * (ROUNDS + 1) * 3; // warm-up round included
  const commands = main.count() + subscriberCounts.reduce((sum, counter) => sum + counter.count(), 0) - commandsBefore;

  // The lookup alone, many times: what the hook adds per identity.
  const checks = 200_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < checks; i++) busy.check([{ scope: 'ip', value: CALLER_IP }]);
  const checkNs = Number(process.hrtime.bigint() - started) / checks;

  const bareCpu = spread(results.bare);
  const emptyRatio = ratios(results.bare, results.empty);
  const busyRatio = ratios(results.bare, results.busy);
  const costMicros = spread(results.bare.map((cpu, index) => (results.busy[index] as number) - cpu));

  await Promise.all([bare.close(), hookEmpty.close(), hookBusy.close()]);
  await empty.close();
  await busy.close();
  await redis.close();
  await database.close();

  return [
    {
      name: 'GET via inject, no decision hook (CPU per request)',
      value: bareCpu.median,
      unit: 'us',
      min: bareCpu.min,
      max: bareCpu.max,
    },
    {
      name: 'decision hook, no active decision',
      value: emptyRatio.median,
      unit: 'x bare CPU',
      min: emptyRatio.min,
      max: emptyRatio.max,
      goal: '<= 1.1x bare',
      meets: emptyRatio.median <= 1.1,
    },
    {
      name: `decision hook, ${DECISIONS} active decisions (caller not listed)`,
      value: busyRatio.median,
      unit: 'x bare CPU',
      min: busyRatio.min,
      max: busyRatio.max,
      goal: '<= 1.1x bare',
      meets: busyRatio.median <= 1.1,
    },
    {
      name: `hook CPU per request, ${DECISIONS} active decisions`,
      value: costMicros.median,
      unit: 'us',
      min: costMicros.min,
      max: costMicros.max,
    },
    { name: 'defense.check per call (memoised HMAC + Map lookup)', value: checkNs, unit: 'ns' },
    {
      name: `Redis commands sent during ${requests.toLocaleString('en')} requests`,
      value: commands,
      unit: 'commands',
      note: `${(commands / requests).toFixed(4)} per request`,
      goal: '0 (no round trip on the hot path)',
      meets: commands === 0,
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(), null, 2));
}
