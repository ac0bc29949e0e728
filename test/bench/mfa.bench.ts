/**
 * Second-factor verification cost, side by side in alternating rounds: a TOTP check (±1 step) through our
 * wrapper (shape check, window, replay guard) against the same check in raw otplib, and a backup-code check
 * (normalise + HMAC-SHA256 under the pepper; the database lookup by that hash is one indexed query on top).
 * Goal: the wrapper within 1.2x of raw otplib (>= 0.83x).
 */
import { verify } from 'otplib';
import { hashBackupCode } from '#shared/mfa/backup-codes.ts';
import { generateTotp, generateTotpSecret, TOTP_PERIOD_SECONDS, timeStepOf, verifyTotp } from '#shared/mfa/totp.ts';
import type { BenchFigure } from './run.ts';
import { alternate, ratios, spread } from './side-by-side.ts';

const ROUNDS = 5;

async function perSecond(iterations: number, op: () => unknown): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await op();
  return iterations / ((performance.now() - started) / 1000);
}

export async function run(): Promise<BenchFigure[]> {
  const secret = generateTotpSecret();
  const nowSeconds = 1_800_000_015;
  const code = await generateTotp({ secret, nowSeconds });
  const lastUsedStep = timeStepOf(nowSeconds) - 2;
  const pepper = new Uint8Array(32).fill(1);
  const userId = '00000000-0000-4000-8000-000000000001';

  const results = await alternate(
    {
      raw: () =>
        perSecond(2_000, async () => {
          const result = await verify({
            secret,
            token: code,
            epoch: nowSeconds,
            epochTolerance: TOTP_PERIOD_SECONDS,
            afterTimeStep: lastUsedStep,
          });
          if (!result.valid) throw new Error('raw verify failed');
        }),
      wrapper: () =>
        perSecond(2_000, async () => {
          if (!(await verifyTotp({ secret, code, nowSeconds, lastUsedStep })).ok) throw new Error('verify failed');
        }),
      backup: () => perSecond(50_000, () => hashBackupCode(pepper, userId, 'abcde-fghij')),
    },
    ROUNDS,
  );
  const raw = spread(results.raw);
  const wrapper = spread(results.wrapper);
  const backup = spread(results.backup);
  const ratio = ratios(results.raw, results.wrapper);
  return [
    {
      name: 'TOTP verify ±1 step, raw otplib (baseline)',
      value: raw.median,
      unit: 'ops/s',
      min: raw.min,
      max: raw.max,
    },
    {
      name: 'TOTP verify ±1 step + replay guard, our wrapper',
      value: wrapper.median,
      unit: 'ops/s',
      min: wrapper.min,
      max: wrapper.max,
      note: `${ratio.median.toFixed(2)}x of raw`,
      goal: 'within 1.2x of raw (>= 0.83x)',
      meets: ratio.median >= 0.83,
    },
    {
      name: 'backup-code check (normalise + HMAC-SHA256)',
      value: backup.median,
      unit: 'ops/s',
      min: backup.min,
      max: backup.max,
    },
  ];
}
