/**
 * Threat: a TOTP implementation that drifts from RFC 6238 locks people out (or lets wrong codes in), a wide
 * clock window multiplies an attacker's chances, and an accepted code that can be used again lets anyone who
 * saw it (shoulder, screen share, phishing proxy) sign in a second time. Our wrapper must reproduce the RFC's
 * published vectors, accept exactly ±1 step of drift, and refuse a step already used.
 */
import { stringToBytes } from 'otplib';
import { describe, expect, it } from 'vitest';
import { base32ToBytes } from '#shared/mfa/base32.ts';
import {
  generateTotp,
  generateTotpSecret,
  TOTP_PERIOD_SECONDS,
  timeStepOf,
  totpUri,
  verifyTotp,
} from '#shared/mfa/totp.ts';

/** RFC 6238 Appendix B, SHA-1, secret ASCII "12345678901234567890", 8 digits. */
const RFC_SECRET = stringToBytes('12345678901234567890');
const RFC_VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('RFC 6238 test vectors through our wrapper', () => {
  it.each(RFC_VECTORS)('at T=%i generates and verifies %s', async (time, code) => {
    expect(await generateTotp({ secret: RFC_SECRET, nowSeconds: time, digits: 8 })).toBe(code);
    const check = await verifyTotp({ secret: RFC_SECRET, nowSeconds: time, digits: 8, code });
    expect(check).toEqual({ ok: true, timeStep: timeStepOf(time) });
  });

  it('refuses each vector at the neighbouring vector times (the code depends on the time)', async () => {
    const check = await verifyTotp({ secret: RFC_SECRET, nowSeconds: 1234567890, digits: 8, code: '07081804' });
    expect(check.ok).toBe(false);
  });
});

describe('clock drift (fixed clock)', () => {
  const secret = generateTotpSecret();
  const now = 1_800_000_015; // inside a step, so ±30 s is exactly one step away

  it.each([-1, 0, 1])('accepts a code from %i step(s) away', async (steps) => {
    const code = await generateTotp({ secret, nowSeconds: now + steps * TOTP_PERIOD_SECONDS });
    expect((await verifyTotp({ secret, nowSeconds: now, code })).ok).toBe(true);
  });

  it.each([-2, 2, -3, 3])('rejects a code from %i steps away', async (steps) => {
    const code = await generateTotp({ secret, nowSeconds: now + steps * TOTP_PERIOD_SECONDS });
    expect(await verifyTotp({ secret, nowSeconds: now, code })).toEqual({ ok: false, reason: 'invalid' });
  });

  it('also holds at the very start and end of a step', async () => {
    const start = timeStepOf(now) * TOTP_PERIOD_SECONDS;
    for (const at of [start, start + TOTP_PERIOD_SECONDS - 1]) {
      const twoBack = await generateTotp({ secret, nowSeconds: at - 2 * TOTP_PERIOD_SECONDS });
      const oneBack = await generateTotp({ secret, nowSeconds: at - TOTP_PERIOD_SECONDS });
      expect((await verifyTotp({ secret, nowSeconds: at, code: oneBack })).ok).toBe(true);
      expect((await verifyTotp({ secret, nowSeconds: at, code: twoBack })).ok).toBe(false);
    }
  });
});

describe('replay guard', () => {
  const secret = generateTotpSecret();
  const now = 1_800_000_015;

  it('rejects the same code once its step was used, and reports it as a replay', async () => {
    const code = await generateTotp({ secret, nowSeconds: now });
    const first = await verifyTotp({ secret, nowSeconds: now, code });
    expect(first.ok).toBe(true);
    const step = first.ok ? first.timeStep : -1;
    expect(await verifyTotp({ secret, nowSeconds: now, code, lastUsedStep: step })).toEqual({
      ok: false,
      reason: 'replayed',
    });
  });

  it('rejects an older step after a newer one was used, but accepts the next step', async () => {
    const previous = await generateTotp({ secret, nowSeconds: now - TOTP_PERIOD_SECONDS });
    const next = await generateTotp({ secret, nowSeconds: now + TOTP_PERIOD_SECONDS });
    const lastUsedStep = timeStepOf(now);
    expect((await verifyTotp({ secret, nowSeconds: now, code: previous, lastUsedStep })).ok).toBe(false);
    expect(await verifyTotp({ secret, nowSeconds: now, code: next, lastUsedStep })).toEqual({
      ok: true,
      timeStep: lastUsedStep + 1,
    });
  });
});

describe('input shape', () => {
  const secret = generateTotpSecret();
  it.each(['', '12345', '1234567', 'abcdef', '12 34 5x', '１２３４５６'])('treats %j as a wrong code', async (code) => {
    expect(await verifyTotp({ secret, nowSeconds: 1_800_000_000, code })).toEqual({ ok: false, reason: 'invalid' });
  });

  it('accepts a code typed with spaces', async () => {
    const code = await generateTotp({ secret, nowSeconds: 1_800_000_000 });
    const spaced = `${code.slice(0, 3)} ${code.slice(3)}`;
    expect((await verifyTotp({ secret, nowSeconds: 1_800_000_000, code: spaced })).ok).toBe(true);
  });
});

describe('secrets and URIs', () => {
  it('makes 20-byte Base32 secrets that decode to the bytes otplib uses', async () => {
    const secret = generateTotpSecret();
    const bytes = base32ToBytes(secret);
    expect(bytes.length).toBe(20);
    const fromString = await generateTotp({ secret, nowSeconds: 1_800_000_000 });
    expect(await generateTotp({ secret: bytes, nowSeconds: 1_800_000_000 })).toBe(fromString);
    expect(generateTotpSecret()).not.toBe(secret);
  });

  it('builds an authenticator-app URI with issuer and label (SHA1, 6 digits, 30 s by default)', () => {
    const uri = new URL(totpUri({ secret: 'JBSWY3DPEHPK3PXP', issuer: 'Telegram Security Platform', label: '@alice' }));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Telegram Security Platform:@alice');
    expect(uri.searchParams.get('secret')).toBe('JBSWY3DPEHPK3PXP');
    expect(uri.searchParams.get('issuer')).toBe('Telegram Security Platform');
    // Key URI Format defaults (SHA1, 6 digits, 30 s) are what otplib omits and every app assumes.
    expect(uri.searchParams.get('algorithm') ?? 'SHA1').toBe('SHA1');
    expect(uri.searchParams.get('digits') ?? '6').toBe('6');
    expect(uri.searchParams.get('period') ?? '30').toBe('30');
  });
});
