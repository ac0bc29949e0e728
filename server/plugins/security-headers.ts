/**
 * Security headers on every response, computed once at start (not per request: building them per request
 * cost a quarter of the throughput, STACK-NOTES "Measured costs"). The Mini App is framed by Telegram's web
 * clients, so it gets a CSP `frame-ancestors` allow-list instead of X-Frame-Options; nothing else may be
 * framed at all. Authenticated and /api/ responses are never cached.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** Telegram clients that show Mini Apps in an iframe. */
export const TELEGRAM_FRAME_ANCESTORS = ['https://web.telegram.org', 'https://*.telegram.org'];

/** The Mini App's CSP: no inline script or style, nothing from other origins but Telegram's images. */
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

/** Everything that is not the Mini App is data: it may load nothing, run nothing and be framed by no one. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** HSTS for 2 years with subdomains (hstspreload.org asks at least 1 year; browsers ignore it over plain HTTP). */
export const HSTS_MAX_AGE_SECONDS = 2 * 365 * 24 * 60 * 60;

/** Browser features nothing here uses: denied to us and to any frame we embed (W3C Permissions Policy). */
export const PERMISSIONS_POLICY = [
  'accelerometer',
  'autoplay',
  'camera',
  'display-capture',
  'geolocation',
  'gyroscope',
  'magnetometer',
  'microphone',
  'midi',
  'payment',
  'usb',
  'browsing-topics',
]
  .map((feature) => `${feature}=()`)
  .join(', ');

const COMMON_HEADERS = {
  'strict-transport-security': `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`,
  'x-content-type-options': 'nosniff', // no MIME sniffing: a JSON body is never run as a script
  'referrer-policy': 'no-referrer', // URLs (tokens in fragments, ids in paths) never leak to other sites
  'cross-origin-opener-policy': 'same-origin', // no window handle for a page that opened us
  'cross-origin-resource-policy': 'same-origin', // other sites cannot embed our responses (Spectre)
  'permissions-policy': PERMISSIONS_POLICY,
  'x-dns-prefetch-control': 'off',
  'x-permitted-cross-domain-policies': 'none',
} as const;

/** The Mini App's headers (also the policy the scanner's HTTP self-check compares against). */
export const WEBAPP_HEADERS = { ...COMMON_HEADERS, 'content-security-policy': WEBAPP_CSP } as const;
/** Every other response's headers (also the scanner's policy for them). */
export const OTHER_HEADERS = {
  ...COMMON_HEADERS,
  'content-security-policy': API_CSP,
  'x-frame-options': 'DENY',
} as const;

function isWebappUrl(url: string): boolean {
  return url === '/app' || url.startsWith('/app/');
}

export const securityHeadersPlugin = fp(
  async (app: FastifyInstance) => {
    // Callback style: nothing here waits (a promise per response is measurable on the hot path).
    app.addHook('onSend', (request, reply, payload, done) => {
      reply.headers(isWebappUrl(request.url) ? WEBAPP_HEADERS : OTHER_HEADERS);
      reply.header('x-request-id', request.id);
      // Personal data must not stay in a browser's or a shared proxy's cache (OWASP ASVS 8.2.1).
      const { headers } = request;
      if (
        request.url.startsWith('/api/') ||
        headers.authorization !== undefined ||
        headers['x-api-key'] !== undefined
      ) {
        reply.header('cache-control', 'no-store');
      }
      done(null, payload);
    });
  },
  { name: 'security-headers' },
);
