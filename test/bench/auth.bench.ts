/**
 * What authentication costs, side by side in one run:
 * - GET /api/v1/me through the whole app with a JWT (verify, session read in Redis, permission check) against
 *   the same handler (the same DB read and response) with auth off, on a bare Fastify. Goal: ≤ 5 % at p50.
 * - Access-token verification per call: our verifier (cache hit, and cold through jose) against raw
 *   node:crypto Ed25519 verification of the same token.
 */
import { createPrivateKey, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { findUserById } from '#shared/identity/users.ts';
import { createTokenSigner } from '#shared/tokens/jwt.ts';
import { buildTestApp } from '../helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '../helpers/create-test-bot.ts';
import { signedInitData } from '../helpers/init-data.ts';
import type { BenchFigure } from './run.ts';

const ROUNDS = 3;
const SECONDS = 3;

async function load(url: string, headers: Record<string, string> = {}) {
  const result = await autocannon({ url, headers, connections: 10, duration: SECONDS });
  return {
    rps: result.requests.average,
    mean: result.latency.mean,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors,
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

function perSecond(iterations: number, op: () => void): number {
  const started = performance.now();
  for (let i = 0; i < iterations; i++) op();
  return iterations / ((performance.now() - started) / 1000);
}

async function perSecondAsync(iterations: number, op: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await op();
  return iterations / ((performance.now() - started) / 1000);
}

export async function run(): Promise<BenchFigure[]> {
  const t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
  const login = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/telegram',
    payload: { initData: signedInitData({ user: { id: 123_001, first_name: 'Bench' } }) },
  });
  const { accessToken, user } = login.json() as { accessToken: string; user: { id: string } };
  const withAuth = await t.app.listen({ port: 0, host: '127.0.0.1' });

  const bare = Fastify();
  bare.get('/api/v1/me', async () => {
    const row = await findUserById(t.database.db, user.id);
    return { user: row ? { ...row, createdAt: row.createdAt.toISOString() } : null, permissions: [], via: 'session' };
  });
  const withoutAuth = await bare.listen({ port: 0, host: '127.0.0.1' });

  const headers = { authorization: `Bearer ${accessToken}` };
  await load(`${withAuth}/api/v1/me`, headers);
  await load(`${withoutAuth}/api/v1/me`);
  const on: Awaited<ReturnType<typeof load>>[] = [];
  const off: Awaited<ReturnType<typeof load>>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate A and B so drift on a shared machine hits both.
    off.push(await load(`${withoutAuth}/api/v1/me`));
    on.push(await load(`${withAuth}/api/v1/me`, headers));
  }
  await bare.close();

  // Verification per call.
  const signer = await createTokenSigner({ signingKeys: t.secrets.jwtSigningKeys, issuer: 'tsp', audience: 'tsp-api' });
  const { token } = await signer.issue({
    sub: user.id,
    sid: 's',
    role: 'user',
    permissions: [],
    amr: ['tg'],
    auth_time: 1,
  });
  const publicKey = createPublicKey(
    createPrivateKey({ key: t.secrets.jwtSigningKeys[0] as Buffer, format: 'der', type: 'pkcs8' }),
  );
  const [head, payload, signature] = token.split('.') as [string, string, string];
  const signingInput = Buffer.from(`${head}.${payload}`);
  const signatureBytes = Buffer.from(signature, 'base64url');
  const raw = perSecond(5_000, () => {
    cryptoVerify(null, signingInput, publicKey, signatureBytes);
  });
  const cached = await perSecondAsync(50_000, () => signer.verify(token));
  let counter = 0;
  const coldTokens = await Promise.all(
    Array.from({ length: 2_000 }, () =>
      signer.issue({ sub: user.id, sid: `s${counter++}`, role: 'user', permissions: [], amr: ['tg'], auth_time: 1 }),
    ),
  );
  let index = 0;
  const cold = await perSecondAsync(coldTokens.length, () =>
    signer.verify((coldTokens[index++] as { token: string }).token),
  );
  await t.close();

  const p50On = median(on.map((r) => r.p50));
  const p50Off = median(off.map((r) => r.p50));
  const rpsOn = median(on.map((r) => r.rps));
  const rpsOff = median(off.map((r) => r.rps));
  const meanOn = median(on.map((r) => r.mean));
  const meanOff = median(off.map((r) => r.mean));
  const errors = on.reduce((sum, r) => sum + r.errors, 0) + off.reduce((sum, r) => sum + r.errors, 0);
  return [
    {
      name: 'GET /api/v1/me, auth off (same DB read)',
      value: rpsOff,
      unit: 'req/s',
      note: `p50 ${p50Off} ms, p99 ${median(off.map((r) => r.p99))} ms`,
    },
    {
      name: 'GET /api/v1/me, JWT + session + RBAC + all plugins',
      value: rpsOn,
      unit: 'req/s',
      note: `${(rpsOn / rpsOff).toFixed(2)}x req/s; mean latency ${(meanOn / meanOff).toFixed(3)}x; p50 ${p50On} ms (off ${p50Off}), p99 ${median(on.map((r) => r.p99))} ms; non-2xx ${errors}`,
    },
    { name: 'Ed25519 verify, raw node:crypto (baseline)', value: raw, unit: 'ops/s', note: '1.00x' },
    {
      name: 'access-token verify, cache hit',
      value: cached,
      unit: 'ops/s',
      note: `${(cached / raw).toFixed(1)}x of raw`,
    },
    {
      name: 'access-token verify, cold (jose, first sight)',
      value: cold,
      unit: 'ops/s',
      note: `${(cold / raw).toFixed(2)}x of raw`,
    },
  ];
}
