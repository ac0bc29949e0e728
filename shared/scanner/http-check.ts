/**
 * HTTP self-check: requests pages of the running deployment and compares the response headers with the
 * product's header policy (given by the caller: the API's security-headers plugin owns it). A proxy that
 * strips or rewrites headers shows up here, which unit tests of the plugin cannot see.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type Finding, finding } from './finding.ts';
import type { Severity } from './osv.ts';

/** One page and the headers it must carry (names lower-case, exact values). */
export interface HeaderExpectation {
  path: string;
  headers: Readonly<Record<string, string>>;
}

export interface HttpResponseInfo {
  status: number;
  headers: Record<string, string>;
}

export const HTTP_CHECK_TIMEOUT_MS = 5_000;

/** Headers whose absence leaves a browser-side protection off. */
const IMPORTANT_HEADERS = new Set(['content-security-policy', 'strict-transport-security', 'cache-control']);

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Fetches `url` and returns its status and headers (body discarded). For a loopback https URL the
 * certificate is not verified: the self-check reads headers, and a local certificate is often issued for
 * the public name only.
 */
export function fetchHeaders(url: string, timeoutMs = HTTP_CHECK_TIMEOUT_MS): Promise<HttpResponseInfo> {
  const target = new URL(url);
  const isHttps = target.protocol === 'https:';
  const request = isHttps ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'GET',
        timeout: timeoutMs,
        headers: { 'user-agent': 'tsp-scanner/1', accept: '*/*' },
        ...(isHttps && LOOPBACK.has(target.hostname) ? { rejectUnauthorized: false } : {}),
      },
      (response) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
        }
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers }));
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The findings for one page's headers. */
export function compareHeaders(expectation: HeaderExpectation, response: HttpResponseInfo): Finding[] {
  const found: Finding[] = [];
  const { path } = expectation;
  for (const [name, expected] of Object.entries(expectation.headers)) {
    const actual = response.headers[name.toLowerCase()];
    const severity: Severity = IMPORTANT_HEADERS.has(name.toLowerCase()) ? 'medium' : 'low';
    if (actual === undefined) {
      found.push(
        finding(
          'http',
          'http.header_missing',
          `${path}|${name}|missing`,
          severity,
          `${path} lacks ${name}`,
          `The response to GET ${path} has no ${name} header; the policy is "${expected}". If a proxy is in front, make it pass the app’s headers through.`,
        ),
      );
    } else if (actual.trim() !== expected) {
      found.push(
        finding(
          'http',
          'http.header_mismatch',
          `${path}|${name}|mismatch`,
          severity,
          `${path} sends a different ${name}`,
          `GET ${path} answered ${name}: "${actual.slice(0, 300)}"; the policy is "${expected.slice(0, 300)}".`,
        ),
      );
    }
  }
  for (const name of ['x-powered-by', 'server']) {
    const value = response.headers[name];
    // A product name with a version tells an attacker which advisories to try.
    if (value !== undefined && (name === 'x-powered-by' || /\d/.test(value))) {
      found.push(
        finding(
          'http',
          'http.header_leak',
          `${path}|${name}|leak`,
          'low',
          `${path} reveals ${name}`,
          `GET ${path} answered ${name}: "${value.slice(0, 100)}". Remove it (or its version) at the proxy.`,
        ),
      );
    }
  }
  return found;
}

/**
 * Checks every page against its expectation. An unreachable deployment is one finding (the check could
 * not run), not an error: the rest of the scan still counts.
 */
export async function checkHttpHeaders(
  baseUrl: string,
  expectations: readonly HeaderExpectation[],
  timeoutMs = HTTP_CHECK_TIMEOUT_MS,
): Promise<Finding[]> {
  const found: Finding[] = [];
  for (const expectation of expectations) {
    const url = `${baseUrl.replace(/\/+$/, '')}${expectation.path}`;
    try {
      found.push(...compareHeaders(expectation, await fetchHeaders(url, timeoutMs)));
    } catch (error) {
      found.push(
        finding(
          'http',
          'http.unreachable',
          `${expectation.path}|unreachable`,
          'low',
          `Header self-check could not reach ${expectation.path}`,
          `GET ${url} failed (${(error as Error).message.slice(0, 120)}). Set SCANNER_SELF_URL to an address of the API this worker can reach.`,
        ),
      );
    }
  }
  return found;
}
