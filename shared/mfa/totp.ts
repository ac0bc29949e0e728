/**
 * TOTP (RFC 6238) through otplib 13, with the parameters every authenticator app understands: SHA-1,
 * 6 digits, 30-second steps, 20-byte secrets. One window rule (±1 step) and one replay rule (a step already
 * used is refused) for every caller.
 */
import { generate, generateSecret, generateURI, type HashAlgorithm, verify } from 'otplib';

/** RFC 6238 4.1 default step; what Google Authenticator and every common app assume. */
export const TOTP_PERIOD_SECONDS = 30;
/** Six digits: the authenticator-app default (RFC 4226 5.3 allows 6 to 8). */
export const TOTP_DIGITS = 6;
/** 20 random bytes = 160 bits, the SHA-1 block-friendly length RFC 4226 4 recommends. */
export const TOTP_SECRET_BYTES = 20;
/** Accept one step of clock drift either way (RFC 6238 5.2 recommends at most one step back). */
export const TOTP_WINDOW_STEPS = 1;

export interface TotpOptions {
  /** Base32 secret (as in the otpauth URI) or raw bytes. */
  secret: string | Uint8Array;
  /** Unix time in seconds (tests pass a fixed clock). */
  nowSeconds: number;
  /** Only for the RFC vectors (8 digits); everything else uses {@link TOTP_DIGITS}. */
  digits?: 6 | 8;
  algorithm?: HashAlgorithm;
}

/** A new Base32 TOTP secret of {@link TOTP_SECRET_BYTES} random bytes. */
export function generateTotpSecret(): string {
  return generateSecret({ length: TOTP_SECRET_BYTES });
}

/** The `otpauth://totp/...` URI an authenticator app scans (issuer = product name, label = the account). */
export function totpUri(input: { secret: string; issuer: string; label: string }): string {
  return generateURI({
    issuer: input.issuer,
    label: input.label,
    secret: input.secret,
    algorithm: 'sha1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  });
}

/** The code for `nowSeconds` (tests and the bench; users' apps compute their own). */
export function generateTotp(options: TotpOptions): Promise<string> {
  return generate({
    secret: options.secret,
    epoch: options.nowSeconds,
    period: TOTP_PERIOD_SECONDS,
    digits: options.digits ?? TOTP_DIGITS,
    algorithm: options.algorithm ?? 'sha1',
  });
}

/** The time step (counter) of a moment. */
export function timeStepOf(nowSeconds: number): number {
  return Math.floor(nowSeconds / TOTP_PERIOD_SECONDS);
}

export type TotpCheck = { ok: true; timeStep: number } | { ok: false; reason: 'invalid' | 'replayed' };

const DIGITS_ONLY = /^[0-9]+$/;

/**
 * Verifies `code` within ±{@link TOTP_WINDOW_STEPS} steps (constant-time comparison inside otplib).
 * `lastUsedStep` is the replay guard: a code from that step or any earlier one is refused even when correct.
 * Returns the matched step, to be stored as the new `lastUsedStep`.
 */
export async function verifyTotp(
  options: TotpOptions & { code: string; lastUsedStep?: number | null | undefined },
): Promise<TotpCheck> {
  const digits = options.digits ?? TOTP_DIGITS;
  const code = options.code.replace(/\s+/g, '');
  // Shape first: otplib throws on tokens of the wrong length; a wrong shape is simply a wrong code.
  if (code.length !== digits || !DIGITS_ONLY.test(code)) return { ok: false, reason: 'invalid' };
  const base = {
    secret: options.secret,
    token: code,
    epoch: options.nowSeconds,
    period: TOTP_PERIOD_SECONDS,
    digits,
    algorithm: options.algorithm ?? 'sha1',
    // ±30 s covers exactly the previous and the next step.
    epochTolerance: TOTP_WINDOW_STEPS * TOTP_PERIOD_SECONDS,
  } as const;
  const last = options.lastUsedStep ?? undefined;
  const result = await verify(last === undefined ? base : { ...base, afterTimeStep: last });
  if (result.valid) return { ok: true, timeStep: (result as { timeStep: number }).timeStep };
  if (last === undefined) return { ok: false, reason: 'invalid' };
  // Tell a replay from a wrong code (for the audit trail): the same code without the guard would pass.
  const unguarded = await verify(base);
  return { ok: false, reason: unguarded.valid ? 'replayed' : 'invalid' };
}
