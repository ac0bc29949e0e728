/**
 * Telegram Mini App sign-in: initData checked the way Telegram specifies (HMAC-SHA256 keyed by the bot
 * token; or, when configured, Telegram's Ed25519 third-party `signature`, so an API deployment can verify
 * users without holding the bot token), not older than a maximum age, and accepted only once.
 */
import { parse, validate, validate3rd } from '@telegram-apps/init-data-node';
import type { Redis } from 'ioredis';
import { sha256Hex } from '../crypto/hash.ts';

/** Default max age of initData: a Mini App session older than this must reopen the app (seconds). */
export const INIT_DATA_MAX_AGE_SECONDS = 3600;
/** auth_date may be at most this far in the future (clock skew between Telegram and us). */
const FUTURE_SKEW_SECONDS = 30;
export const INIT_DATA_MAX_LENGTH = 4096;

export type InitDataFailure =
  | 'INIT_DATA_MALFORMED'
  | 'INIT_DATA_HASH_MISSING'
  | 'INIT_DATA_SIGNATURE_INVALID'
  | 'INIT_DATA_AUTH_DATE_INVALID'
  | 'INIT_DATA_EXPIRED'
  | 'INIT_DATA_USER_MISSING'
  | 'INIT_DATA_REPLAYED';

export interface TelegramIdentity {
  telegramId: number;
  languageCode: string | undefined;
  firstName: string;
}

export type InitDataResult =
  | { ok: true; identity: TelegramIdentity; authDate: Date }
  | { ok: false; reason: InitDataFailure };

export interface InitDataVerifierOptions {
  /** The bot token (HMAC check). */
  botToken?: string | undefined;
  /** With `botId`, accept Telegram's Ed25519 third-party signature instead of the HMAC. */
  thirdPartyBotId?: number | undefined;
  maxAgeSeconds?: number;
  redis: Redis;
  prefix: string;
  now?: () => number;
}

function classify(error: unknown): InitDataFailure {
  const name = error instanceof Error ? `${error.name} ${error.message}` : String(error);
  if (/SignatureMissing/i.test(name)) return 'INIT_DATA_HASH_MISSING';
  if (/Expired/i.test(name)) return 'INIT_DATA_EXPIRED';
  if (/AuthDate|auth_date/i.test(name)) return 'INIT_DATA_AUTH_DATE_INVALID';
  if (/SignatureInvalid/i.test(name)) return 'INIT_DATA_SIGNATURE_INVALID';
  return 'INIT_DATA_MALFORMED';
}

/**
 * Checks initData and claims it (each value is accepted once within its max age).
 * Expected failures are returned, never thrown.
 */
export function createInitDataVerifier(options: InitDataVerifierOptions) {
  const maxAge = options.maxAgeSeconds ?? INIT_DATA_MAX_AGE_SECONDS;
  const now = options.now ?? Date.now;
  return async function verifyInitData(initData: string): Promise<InitDataResult> {
    if (typeof initData !== 'string' || initData.length === 0 || initData.length > INIT_DATA_MAX_LENGTH) {
      return { ok: false, reason: 'INIT_DATA_MALFORMED' };
    }
    const params = new URLSearchParams(initData);
    // Duplicate keys would let the signed value and the parsed value differ.
    const keys = [...params.keys()];
    if (new Set(keys).size !== keys.length) return { ok: false, reason: 'INIT_DATA_MALFORMED' };
    try {
      if (options.thirdPartyBotId !== undefined && params.has('signature') && !options.botToken) {
        await validate3rd(initData, options.thirdPartyBotId, { expiresIn: maxAge });
      } else if (options.botToken) {
        validate(initData, options.botToken, { expiresIn: maxAge });
      } else {
        return { ok: false, reason: 'INIT_DATA_SIGNATURE_INVALID' };
      }
    } catch (error) {
      return { ok: false, reason: classify(error) };
    }
    let parsed: { auth_date: Date; user?: { id: number; first_name: string; language_code?: string } };
    try {
      parsed = parse(initData) as unknown as typeof parsed;
    } catch {
      return { ok: false, reason: 'INIT_DATA_MALFORMED' };
    }
    if (!(parsed.auth_date instanceof Date) || Number.isNaN(parsed.auth_date.getTime())) {
      return { ok: false, reason: 'INIT_DATA_AUTH_DATE_INVALID' };
    }
    const authSeconds = Math.floor(parsed.auth_date.getTime() / 1000);
    if (authSeconds > Math.floor(now() / 1000) + FUTURE_SKEW_SECONDS)
      return { ok: false, reason: 'INIT_DATA_AUTH_DATE_INVALID' };
    const user = parsed.user;
    if (!user || !Number.isSafeInteger(user.id) || user.id <= 0) return { ok: false, reason: 'INIT_DATA_USER_MISSING' };
    // Claim it only after the signature holds, so forged values cannot fill the cache.
    const claimed = await options.redis.set(
      `${options.prefix}:initdata:${sha256Hex(initData)}`,
      '1',
      'EX',
      maxAge + FUTURE_SKEW_SECONDS,
      'NX',
    );
    if (claimed !== 'OK') return { ok: false, reason: 'INIT_DATA_REPLAYED' };
    return {
      ok: true,
      identity: { telegramId: user.id, languageCode: user.language_code, firstName: user.first_name },
      authDate: parsed.auth_date,
    };
  };
}
