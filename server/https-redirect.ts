/**
 * With TLS served directly (TLS_CERT/TLS_KEY) and HTTP_REDIRECT_PORT set: a tiny plain-HTTP server that only
 * redirects to HTTPS, same host, path and query. The target host is never taken from the request blindly
 * (no open redirect): PUBLIC_URL's host when set, else the Host header only when it is a plain hostname.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface HttpsRedirectOptions {
  /** PUBLIC_URL: its host (and port) is where every redirect goes. */
  publicUrl: string | undefined;
  /** The port HTTPS listens on (used with the Host header's name when PUBLIC_URL is unset). */
  httpsPort: number;
}

// A DNS name or IPv4 address (RFC 1123 labels), or a bracketed IPv6 literal, with an optional port.
const HOST_HEADER =
  /^(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/i;

/** The redirect target's host, or null when the request gives no trustworthy one. */
function targetHost(request: IncomingMessage, options: HttpsRedirectOptions): string | null {
  if (options.publicUrl) return new URL(options.publicUrl).host;
  const host = request.headers.host;
  if (typeof host !== 'string' || host.length > 255 || !HOST_HEADER.test(host)) return null;
  const name = host.replace(/:[0-9]{1,5}$/, '');
  return options.httpsPort === 443 ? name : `${name}:${options.httpsPort}`;
}

/** The request handler: 301 (GET/HEAD) or 308 (other methods keep their method) to the HTTPS URL. */
export function createHttpsRedirectHandler(options: HttpsRedirectOptions) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const host = targetHost(request, options);
    if (!host) {
      response.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      response.end('Use HTTPS.\n');
      return;
    }
    // Origin-form targets only: an absolute-form target (`GET http://evil/ HTTP/1.1`) must not choose the host.
    const url = request.url ?? '/';
    const path = url.startsWith('/') ? url : '/';
    const isSafeMethod = request.method === 'GET' || request.method === 'HEAD';
    response.writeHead(isSafeMethod ? 301 : 308, {
      location: `https://${host}${path}`,
      'content-length': '0',
      'cache-control': 'no-store',
    });
    response.end();
  };
}

export interface RunningRedirect {
  server: Server;
  close(): Promise<void>;
}

/** Starts the redirect server on host:port. */
export async function startHttpsRedirect(
  options: HttpsRedirectOptions & { host: string; port: number },
): Promise<RunningRedirect> {
  const server = createServer(createHttpsRedirectHandler(options));
  server.requestTimeout = 10_000; // it answers at once; a slow client is not waited for
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
