/**
 * The product's logger (pino). Redaction is on by default: credentials, tokens, initData and secrets are
 * replaced before a line is written, wherever they appear in a logged object.
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config/index.ts';

export type { Logger };

/** Paths pino censors in every log line (`*` matches one level of nesting). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-telegram-bot-api-secret-token"]',
  'res.headers["set-cookie"]',
  ...[
    'authorization',
    'cookie',
    'token',
    'accessToken',
    'refreshToken',
    'access_token',
    'refresh_token',
    'initData',
    'init_data',
    'password',
    'secret',
    'secretToken',
    'botToken',
    'apiKey',
    'api_key',
    'totpCode',
    'backupCode',
    'otp',
    'masterKey',
    'privateKey',
  ].flatMap((key) => [key, `*.${key}`]),
];

/** Bot tokens (`123456:ABC…`) that slip into a message string are masked too. */
const BOT_TOKEN_PATTERN = /(?<![0-9])[0-9]{3,20}:[A-Za-z0-9_-]{30,}/g;

/** Creates the root logger. `destination` lets tests capture lines. */
export function createLogger(
  options: { level: LogLevel; name?: string },
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level: options.level,
      ...(options.name ? { name: options.name } : {}),
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      hooks: {
        logMethod(args, method) {
          const masked = args.map((arg) =>
            typeof arg === 'string' ? arg.replace(BOT_TOKEN_PATTERN, '[bot-token]') : arg,
          );
          method.apply(this, masked as Parameters<typeof method>);
        },
      },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
