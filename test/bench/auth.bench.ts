/**
 * Access-token verification per call, side by side in alternating rounds: our verifier (a cache hit, the
 * common path, and cold through jose on a token's first sight) against raw node:crypto Ed25519 verification
 * of the same token. Goal: within 2x of raw. (GET /api/v1/me with the layer on and off: layer.bench.ts.)
 */
import { createPrivateKey, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { type AccessClaims, createTokenSigner } from '#shared/tokens/jwt.ts';
import { createTestConfig } from '../helpers/test-config.ts';
import type { BenchFigure } from './run.ts';
import { alternate, ratios, spread } from './side-by-side.ts';

const ROUNDS = 5;

async function perSecond(iterations: number, op: () => unknown): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await op();
  return iterations / ((performance.now() - started) / 1000);
}

export async function run(): Promise<BenchFigure[]> {
  const { secrets } = createTestConfig();
  const signer = await createTokenSigner({ signingKeys: secrets.jwtSigningKeys, issuer: 'tsp', audience: 'tsp-api' });
  const claims: Omit<AccessClaims, 'exp' | 'iat' | 'jti' | 'sid'> = {
    sub: '00000000-0000-4000-8000-000000000001',
    role: 'user',
    permissions: [],
    amr: ['tg'],
    auth_time: 1,
  };
  const { token } = await signer.issue({ ...claims, sid: 's' });
  const publicKey = createPublicKey(
    createPrivateKey({ key: secrets.jwtSigningKeys[0] as Buffer, format: 'der', type: 'pkcs8' }),
  );
  const [head, payload, signature] = token.split('.') as [string, string, string];
  const signingInput = Buffer.from(`${head}.${payload}`);
  const signatureBytes = Buffer.from(signature, 'base64url');
  let sid = 0;
  const fresh = async (count: number) =>
    (await Promise.all(Array.from({ length: count }, () => signer.issue({ ...claims, sid: `s${sid++}` })))).map(
      (issued) => issued.token,
    );

  const results = await alternate(
    {
      raw: () =>
        perSecond(3_000, () => {
          if (!cryptoVerify(null, signingInput, publicKey, signatureBytes)) throw new Error('bad signature');
        }),
      cached: () => perSecond(30_000, () => signer.verify(token)),
      cold: async () => {
        const tokens = await fresh(1_000);
        let index = 0;
        return perSecond(tokens.length, () => signer.verify(tokens[index++] as string));
      },
    },
    ROUNDS,
  );
  const raw = spread(results.raw);
  const cached = spread(results.cached);
  const cold = spread(results.cold);
  const cachedRatio = ratios(results.raw, results.cached);
  const coldRatio = ratios(results.raw, results.cold);
  return [
    {
      name: 'Ed25519 verify, raw node:crypto (baseline)',
      value: raw.median,
      unit: 'ops/s',
      min: raw.min,
      max: raw.max,
    },
    {
      name: 'access-token verify, cache hit (every call after the first)',
      value: cached.median,
      unit: 'ops/s',
      min: cached.min,
      max: cached.max,
      note: `${cachedRatio.median.toFixed(1)}x of raw`,
      goal: 'within 2x of raw (>= 0.5x)',
      meets: cachedRatio.median >= 0.5,
    },
    {
      name: 'access-token verify, cold (jose, first sight of a token)',
      value: cold.median,
      unit: 'ops/s',
      min: cold.min,
      max: cold.max,
      note: `${coldRatio.median.toFixed(2)}x of raw`,
      goal: 'within 2x of raw (>= 0.5x)',
      meets: coldRatio.median >= 0.5,
    },
  ];
}
