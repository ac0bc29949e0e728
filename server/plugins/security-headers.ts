/**
 * Baseline security headers on every response. The Mini App is framed by Telegram's web clients, so it
 * gets a CSP `frame-ancestors` allow-list instead of X-Frame-Options; API responses may not be framed at all.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** Telegram clients that show Mini Apps in an iframe. */
export const TELEGRAM_FRAME_ANCESTORS = ['https://web.telegram.org', 'https://*.telegram.org'];

export const WEBAPP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https://t.me https://*.telegram.org",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  `frame-ancestors ${TELEGRAM_FRAME_ANCESTORS.join(' ')}`,
].join('; ');

const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

export const securityHeadersPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onSend', async (request, reply, payload) => {
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      reply.header('cross-origin-opener-policy', 'same-origin');
      reply.header('x-request-id', request.id);
      const isWebapp = request.url === '/app' || request.url.startsWith('/app/');
      reply.header('content-security-policy', isWebapp ? WEBAPP_CSP : API_CSP);
      if (!isWebapp) reply.header('x-frame-options', 'DENY');
      return payload;
    });
  },
  { name: 'security-headers' },
);
