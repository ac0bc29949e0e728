/**
 * Mini App initData validation per call, side by side in alternating rounds: our verifier (length and
 * duplicate-key checks, the HMAC-SHA256 signature, expiry, parsing, and the single-use claim in Redis) against the
 * bare signature check alone (node:crypto HMAC over the data-check string, compared in constant time), and the
 * verifier's rejection of a forged value (what a flood of forgeries costs: no Redis call).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createInitDataVerifier } from '#shared/identity/telegram-login.ts';
import { TEST_BOT_TOKEN } from '../helpers/create-test-bot.ts';
import { signedInitData } from '../helpers/init-data.ts';
import { createTestRedis } from '../helpers/test-redis.ts';
import type { BenchFigure } from './run.ts';
import { alternate, ratios, spread } from './side-by-side.ts';

const ROUNDS = 5;
const PER_ROUND = 2_000;

async function perSecond(iterations: number, op: (index: number) => unknown): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await op(i);
  return iterations / ((performance.now() - started) / 1000);
}

/** Telegram's check, written out: HMAC(HMAC("WebAppData", token), sorted "key=value" lines). */
function bareSignatureCheck(initData: string, secret: Buffer): boolean {
  const params = new URLSearchParams(initData);
  const hash = params.get('hash') ?? '';
  params.delete('hash');
  const lines = [...params.entries()].map(([key, value]) => `${key}=${value}`).sort();
  const expected = createHmac('sha256', secret).update(lines.join('\n')).digest();
  const given = Buffer.from(hash, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function run(): Promise<BenchFigure[]> {
  const redis = await createTestRedis();
  try {
    const verify = createInitDataVerifier({ botToken: TEST_BOT_TOKEN, redis: redis.client, prefix: redis.prefix });
    const secret = createHmac('sha256', 'WebAppData').update(TEST_BOT_TOKEN).digest();
    // Each value is accepted once, so every round gets fresh ones (signed before the clock starts).
    let serial = 0;
    const fresh = () =>
      Array.from({ length: PER_ROUND }, () =>
        signedInitData({ user: { id: 5_000_000 + (serial % 1000), first_name: 'Bench' }, queryId: `AAHb${serial++}` }),
      );
    const sample = fresh();
    const forged = sample.map((value) => value.replace(/hash=([0-9a-f])/, (_m, c) => `hash=${c === 'a' ? 'b' : 'a'}`));

    const results = await alternate(
      {
        bare: () =>
          perSecond(PER_ROUND, (i) => {
            if (!bareSignatureCheck(sample[i] as string, secret)) throw new Error('bad signature');
          }),
        verifier: async () => {
          const values = fresh();
          return perSecond(PER_ROUND, async (i) => {
            if (!(await verify(values[i] as string)).ok) throw new Error('rejected a good value');
          });
        },
        forged: () =>
          perSecond(PER_ROUND, async (i) => {
            if ((await verify(forged[i] as string)).ok) throw new Error('accepted a forged value');
          }),
      },
      ROUNDS,
    );
    const bare = spread(results.bare);
    const verifier = spread(results.verifier);
    const rejected = spread(results.forged);
    const ratio = ratios(results.bare, results.verifier);
    return [
      {
        name: 'initData signature check alone, node:crypto HMAC (baseline)',
        value: bare.median,
        unit: 'ops/s',
        min: bare.min,
        max: bare.max,
      },
      {
        name: 'initData validation, whole verifier (signature, expiry, parse, single-use claim in Redis)',
        value: verifier.median,
        unit: 'ops/s',
        min: verifier.min,
        max: verifier.max,
        note: `${ratio.median.toFixed(2)}x of the bare check (${ratio.min.toFixed(2)}-${ratio.max.toFixed(2)})`,
      },
      {
        name: 'initData validation, forged signature rejected',
        value: rejected.median,
        unit: 'ops/s',
        min: rejected.min,
        max: rejected.max,
      },
    ];
  } finally {
    await redis.close();
  }
}
