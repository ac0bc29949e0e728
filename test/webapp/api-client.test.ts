/**
 * The Mini App's API client holds the only copies of the tokens. A client that refreshes twice at once would
 * present a rotated refresh token (the server then revokes the whole session), one that shows raw bodies would
 * leak stack traces or HTML to people, and one that drops the MFA challenge would sign people in without it.
 * The network is the only stand-in here: a recording fetch with the server's real answer shapes.
 */
import { describe, expect, it } from 'vitest';
import { ApiError, createApiClient, isUnavailable } from '../../webapp/src/api.ts';

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function recordingFetch(handler: Handler) {
  const calls: { url: string; method: string; headers: Record<string, string>; body: unknown }[] = [];
  const fetchFn = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({
      url,
      method: init.method ?? 'GET',
      headers: (init.headers ?? {}) as Record<string, string>,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    });
    return handler(url, init);
  }) as typeof fetch;
  return { fetchFn, calls };
}

const TOKENS = { tokenType: 'Bearer', accessToken: 'access-1', expiresIn: 600, refreshToken: 'refresh-1' };

describe('Mini App API client', () => {
  it('sends the raw initData, then the access token as a bearer credential', async () => {
    const { fetchFn, calls } = recordingFetch((url) =>
      url.endsWith('/auth/telegram') ? json(200, { ...TOKENS, user: { id: 'u' } }) : json(200, { ok: true }),
    );
    const api = createApiClient({ fetch: fetchFn });
    const initData = 'query_id=AAH&user=%7B%22id%22%3A1%7D&auth_date=1&hash=abc';
    expect(await api.signInWithTelegram(initData)).toEqual({ kind: 'signed-in' });
    expect(calls[0]?.body).toEqual({ initData });
    await api.get('/api/v1/me');
    expect(calls[1]?.headers.authorization).toBe('Bearer access-1');
  });

  it('returns the MFA challenge and holds no token until the code is verified', async () => {
    const { fetchFn, calls } = recordingFetch((url) =>
      url.endsWith('/auth/telegram')
        ? json(200, { mfaRequired: true, challenge: 'ch-1', expiresIn: 300, methods: ['totp', 'backup_code'] })
        : json(200, TOKENS),
    );
    const api = createApiClient({ fetch: fetchFn });
    const result = await api.signInWithTelegram('x=1');
    expect(result).toEqual({ kind: 'mfa', challenge: 'ch-1', expiresIn: 300, methods: ['totp', 'backup_code'] });
    expect(api.isSignedIn()).toBe(false);
    await api.verifyMfa('ch-1', '123456');
    expect(calls[1]?.body).toEqual({ challenge: 'ch-1', code: '123456' });
    expect(api.isSignedIn()).toBe(true);
  });

  it('refreshes once for concurrent calls after TOKEN_EXPIRED, with the rotated token next time', async () => {
    let generation = 1;
    let refreshes = 0;
    const { fetchFn, calls } = recordingFetch(async (url, init) => {
      if (url.endsWith('/auth/telegram')) return json(200, { ...TOKENS, user: {} });
      if (url.endsWith('/auth/refresh')) {
        refreshes++;
        await new Promise((resolve) => setTimeout(resolve, 10));
        generation++;
        return json(200, { ...TOKENS, accessToken: `access-${generation}`, refreshToken: `refresh-${generation}` });
      }
      const auth = (init.headers as Record<string, string>).authorization;
      return auth === `Bearer access-${generation}`
        ? json(200, { ok: true })
        : json(401, { error: { code: 'TOKEN_EXPIRED', message: 'expired' } });
    });
    const api = createApiClient({ fetch: fetchFn });
    await api.signInWithTelegram('x=1');
    generation = 2; // the server now refuses access-1 as expired
    await Promise.all([api.get('/a'), api.get('/b'), api.get('/c')]);
    expect(refreshes).toBe(1);
    const refreshCalls = calls.filter((c) => c.url.endsWith('/auth/refresh'));
    expect(refreshCalls.map((c) => c.body)).toEqual([{ refreshToken: 'refresh-1' }]);
  });

  it('refreshes ahead of expiry with the rotated refresh token', async () => {
    let now = 0;
    let n = 1;
    const { fetchFn, calls } = recordingFetch((url) => {
      if (url.endsWith('/auth/telegram')) return json(200, { ...TOKENS, expiresIn: 60, user: {} });
      if (url.endsWith('/auth/refresh')) {
        n++;
        return json(200, { ...TOKENS, expiresIn: 60, accessToken: `access-${n}`, refreshToken: `refresh-${n}` });
      }
      return json(200, {});
    });
    const api = createApiClient({ fetch: fetchFn, now: () => now });
    await api.signInWithTelegram('x=1');
    now = 45_000; // 15 s left: inside the margin
    await api.get('/a');
    now = 100_000;
    await api.get('/b');
    expect(calls.filter((c) => c.url.endsWith('/auth/refresh')).map((c) => c.body)).toEqual([
      { refreshToken: 'refresh-1' },
      { refreshToken: 'refresh-2' },
    ]);
    expect(calls.at(-1)?.headers.authorization).toBe('Bearer access-3');
  });

  it('reports a lost session once when the refresh is refused', async () => {
    const lost: string[] = [];
    const { fetchFn } = recordingFetch((url) => {
      if (url.endsWith('/auth/telegram')) return json(200, { ...TOKENS, user: {} });
      if (url.endsWith('/auth/refresh'))
        return json(401, { error: { code: 'REFRESH_TOKEN_REUSED', message: 'Sign in again.' } });
      return json(401, { error: { code: 'TOKEN_EXPIRED', message: 'expired' } });
    });
    const api = createApiClient({ fetch: fetchFn, onSessionLost: (error) => lost.push(error.code) });
    await api.signInWithTelegram('x=1');
    await expect(api.get('/a')).rejects.toMatchObject({ code: 'REFRESH_TOKEN_REUSED' });
    await expect(api.get('/b')).rejects.toBeInstanceOf(ApiError);
    expect(lost).toEqual(['REFRESH_TOKEN_REUSED']);
    expect(api.isSignedIn()).toBe(false);
  });

  it('never surfaces a raw body: HTML or a stack trace becomes a plain message', async () => {
    const { fetchFn } = recordingFetch(
      () => new Response('<html>Error: boom\n    at handler (/srv/app.js:1:1)</html>', { status: 502 }),
    );
    const api = createApiClient({ fetch: fetchFn });
    const error = (await api.get('/x').catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe('SERVER_ERROR');
    expect(error.message).not.toMatch(/html|at handler|\/srv/);
  });

  it('tells a missing route (capability not deployed) from a missing resource', async () => {
    const { fetchFn } = recordingFetch((url) =>
      url.endsWith('/route')
        ? json(404, { error: { code: 'NOT_FOUND', message: 'No route for GET /route.' } })
        : json(404, { error: { code: 'SESSION_NOT_FOUND', message: 'No such session.' } }),
    );
    const api = createApiClient({ fetch: fetchFn });
    expect(isUnavailable(await api.get('/route').catch((e: unknown) => e))).toBe(true);
    expect(isUnavailable(await api.get('/session').catch((e: unknown) => e))).toBe(false);
  });

  it('maps a network failure to NETWORK_ERROR', async () => {
    const api = createApiClient({
      fetch: (async () => {
        throw new TypeError('Failed to fetch');
      }) as typeof fetch,
    });
    await expect(api.get('/x')).rejects.toMatchObject({ status: 0, code: 'NETWORK_ERROR' });
  });
});
