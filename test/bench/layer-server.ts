/**
 * One side of the security-layer benchmark, in a process of its own so its memory can be read alone and the
 * load generator does not share its event loop. `node --import tsx test/bench/layer-server.ts <variant>`:
 * - `layer`: the real app (buildApp: headers, CORS, service guard, rate limits, decisions, auth, validation)
 *   with a signed-in user;
 * - `bare`: bare Fastify answering the same routes with the same database read and nothing else.
 * Both build the same services on PGlite and Redis, so the difference is the layer. Prints one JSON line
 * `{ url, token }` once listening; exits when stdin closes.
 */
import Fastify from 'fastify';
import { findUserById } from '#shared/identity/users.ts';
import { buildTestApp } from '../helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '../helpers/create-test-bot.ts';
import { signIn } from '../helpers/sign-in.ts';

const variant = process.argv[2];
if (variant !== 'layer' && variant !== 'bare') throw new Error('usage: layer-server.ts layer|bare');

// Limits far above what the bench sends (100,000 a second; a fast run sends over 40,000 /healthz a second): the
// limiter counts every request but never refuses.
const t = await buildTestApp({
  env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=1000/60,api=1000000/10,global=1000000/10' },
});
const user = await signIn(t.app, { id: 700_000_101, first_name: 'Bench' });

let url: string;
let close: () => Promise<void>;
if (variant === 'layer') {
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  close = () => t.close();
} else {
  const bare = Fastify();
  bare.get('/healthz', async () => ({ status: 'ok' }));
  bare.get('/api/v1/me', async () => {
    const row = await findUserById(t.database.db, user.userId);
    return { user: row ? { ...row, createdAt: row.createdAt.toISOString() } : null, permissions: [], via: 'session' };
  });
  url = await bare.listen({ port: 0, host: '127.0.0.1' });
  close = async () => {
    await bare.close();
    await t.close();
  };
}

// Start-up (migrations, seeding) leaves a large heap of garbage that V8 collects at some point under load,
// which made the first rounds of either side slower than the rest: both sides start measured from a collected heap.
(globalThis as { gc?: () => void }).gc?.();
process.stdout.write(`${JSON.stringify({ url, token: user.accessToken })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void close().finally(() => process.exit(0));
});
