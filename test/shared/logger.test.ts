/**
 * Threat: credentials and personal data ending up in log files. Redaction is on by default for headers,
 * tokens, initData and secrets, and bot tokens inside message strings are masked.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '#shared/logger.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info' }, stream) };
}

describe('logger redaction', () => {
  it('censors credentials wherever they appear one level deep', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        req: { headers: { authorization: 'Bearer eyJhbGciOi.secret', cookie: 'sid=abc', 'x-api-key': 'tsp_live_key' } },
        initData: 'user=%7B%22id%22%3A1%7D&hash=abc',
        body: { refreshToken: 'rt-123', password: 'hunter2', totpCode: '123456' },
        userId: 'u-1',
      },
      'login',
    );
    const line = lines.join('');
    for (const secret of ['eyJhbGciOi.secret', 'sid=abc', 'tsp_live_key', 'hash=abc', 'rt-123', 'hunter2', '123456']) {
      expect(line).not.toContain(secret);
    }
    expect(line).toContain('[redacted]');
    expect(line).toContain('u-1');
  });

  it('masks a bot token inside a message string', () => {
    const { lines, logger } = capture();
    logger.warn('calling https://api.telegram.org/bot1234567:AAbbccddeeffgghhiijjkkllmmnnooppqq/getMe failed');
    expect(lines.join('')).not.toContain('AAbbccddeeffgghhiijjkkllmmnnooppqq');
    expect(lines.join('')).toContain('[bot-token]');
  });

  it('keeps error codes readable', () => {
    const { lines, logger } = capture();
    logger.error({ err: { code: 'ECONNREFUSED', message: 'connect failed' } }, 'db');
    expect(lines.join('')).toContain('ECONNREFUSED');
  });
});
