/**
 * Request rate limits per endpoint group: which group a route belongs to, how each group is keyed, and the
 * `RATE_LIMITS` setting ("auth=10/60,api=300/60,global=600/60": requests per window in seconds) that
 * overrides the defaults group by group.
 */

/** Endpoint groups, strictest first. */
export const RATE_LIMIT_GROUPS = ['auth', 'api', 'global'] as const;
export type RateLimitGroup = (typeof RATE_LIMIT_GROUPS)[number];

export interface RateLimit {
  /** Requests allowed per window and key. */
  max: number;
  windowSeconds: number;
}

export type RateLimitTable = Readonly<Record<RateLimitGroup, RateLimit>>;

/**
 * Defaults. auth: sign-in, refresh, step-up and OAuth callbacks, per IP; 20 a minute is far above a person
 * and far below a credential-stuffing run (OWASP Authentication Cheat Sheet, "Login throttling").
 * api: per signed-in user or API key, a busy Mini App session stays under 5 a second.
 * global: health, JWKS, static files and 404s, per IP.
 */
export const DEFAULT_RATE_LIMITS: RateLimitTable = {
  auth: { max: 20, windowSeconds: 60 },
  api: { max: 300, windowSeconds: 60 },
  global: { max: 600, windowSeconds: 60 },
};

/** How a group's requests are counted: per client address, or per principal (address when anonymous). */
export const RATE_LIMIT_KEYING: Readonly<Record<RateLimitGroup, 'ip' | 'principal'>> = {
  // Credentials are what is being guessed here: counting per claimed identity would let a flood rotate them.
  auth: 'ip',
  api: 'principal',
  global: 'ip',
};

/**
 * Whether a group serves requests when the limiter's store (Redis) fails. auth fails closed: a brute-force
 * window must not open because Redis is down (those routes need Redis anyway and answer 503 without it).
 */
export const RATE_LIMIT_FAILS_OPEN: Readonly<Record<RateLimitGroup, boolean>> = {
  auth: false,
  api: true,
  global: true,
};

/** Upper bounds that catch typos (a window of a day, a million requests) rather than express policy. */
const MAX_REQUESTS = 1_000_000;
const MAX_WINDOW_SECONDS = 24 * 60 * 60;

/** OAuth provider callbacks (`/api/v1/oauth/:provider/callback`): they complete a sign-in. */
const OAUTH_CALLBACK_PATTERN = /^\/api\/v1\/oauth\/[^/]+\/callback$/;

/**
 * The group of a route, from its registered pattern (`/api/v1/sessions/:id`), never the raw URL, so encoding
 * tricks cannot move a request to a laxer group. No pattern (a 404) is `global`.
 * @example rateLimitGroupOf('/api/v1/auth/telegram') // 'auth'
 */
export function rateLimitGroupOf(routePattern: string | undefined): RateLimitGroup {
  if (!routePattern) return 'global';
  if (routePattern.startsWith('/api/v1/auth/') || OAUTH_CALLBACK_PATTERN.test(routePattern)) return 'auth';
  if (routePattern.startsWith('/api/')) return 'api';
  return 'global';
}

export type ParseRateLimitsResult = { ok: true; limits: RateLimitTable } | { ok: false; reason: string };

/**
 * Parses `RATE_LIMITS` over the defaults: each comma-separated `group=max/windowSeconds` replaces that
 * group's limit; groups not named keep theirs. Unset or blank gives the defaults.
 * @returns `{ ok: false, reason }` naming the first bad entry (unknown group, repeated group, not integers,
 * out of range).
 * @example parseRateLimits('auth=10/60') // { ok: true, limits: { auth: { max: 10, windowSeconds: 60 }, … } }
 */
export function parseRateLimits(value: string | undefined): ParseRateLimitsResult {
  const limits: Record<RateLimitGroup, RateLimit> = { ...DEFAULT_RATE_LIMITS };
  if (value === undefined || value.trim() === '') return { ok: true, limits };
  const seen = new Set<string>();
  for (const entry of value.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*([0-9]{1,7})\s*\/\s*([0-9]{1,6})\s*$/.exec(entry);
    if (!match) return { ok: false, reason: `"${entry.trim()}" is not group=requests/windowSeconds` };
    const [, group = '', maxText = '', windowText = ''] = match;
    if (!(RATE_LIMIT_GROUPS as readonly string[]).includes(group)) {
      return { ok: false, reason: `unknown group "${group}" (use ${RATE_LIMIT_GROUPS.join(', ')})` };
    }
    if (seen.has(group)) return { ok: false, reason: `group "${group}" is given twice` };
    seen.add(group);
    const max = Number(maxText);
    const windowSeconds = Number(windowText);
    if (max < 1 || max > MAX_REQUESTS) return { ok: false, reason: `${group}: requests must be 1 to ${MAX_REQUESTS}` };
    if (windowSeconds < 1 || windowSeconds > MAX_WINDOW_SECONDS) {
      return { ok: false, reason: `${group}: window must be 1 to ${MAX_WINDOW_SECONDS} seconds` };
    }
    limits[group as RateLimitGroup] = { max, windowSeconds };
  }
  return { ok: true, limits };
}
