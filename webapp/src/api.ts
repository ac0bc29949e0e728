/**
 * The REST API client. Tokens live in this module's memory only (never localStorage, sessionStorage, URLs or
 * logs): a reload signs in again from the fresh initData Telegram gives. The access token is refreshed through
 * the rotating refresh token shortly before it expires, or once after a 401 TOKEN_EXPIRED.
 */

export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

/** A refused or failed call: `status` 0 means the network failed. Messages are the server's, for people. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.details = body.details;
  }
}

/** True when the route does not exist on this server (a capability not deployed yet). */
export function isUnavailable(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404 && error.code === 'NOT_FOUND';
}

export interface TokenResponse {
  tokenType: 'Bearer';
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
}

export interface MfaChallenge {
  challenge: string;
  expiresIn: number;
  methods: string[];
}

export type SignInResult = { kind: 'signed-in' } | ({ kind: 'mfa' } & MfaChallenge);

/** Refresh this many seconds before the access token expires. */
const REFRESH_MARGIN_SECONDS = 30;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readError(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    return new ApiError(response.status, { code: error.code, message: error.message, details: error.details });
  }
  // Never show a raw body: a proxy's HTML error page or a stack trace is not for people.
  return new ApiError(response.status, {
    code: response.status >= 500 ? 'SERVER_ERROR' : 'REQUEST_FAILED',
    message: response.status >= 500 ? 'The server had a problem. Try again in a moment.' : 'The request failed.',
  });
}

export interface ApiClient {
  signInWithTelegram(initData: string): Promise<SignInResult>;
  verifyMfa(challenge: string, code: string): Promise<void>;
  stepUp(code: string): Promise<void>;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  put<T>(path: string, body?: unknown): Promise<T>;
  del<T = void>(path: string): Promise<T>;
  /** A file the API serves to the signed-in user (an export), as a Blob. */
  download(path: string): Promise<Blob>;
  logout(): Promise<void>;
  isSignedIn(): boolean;
}

export interface ApiClientOptions {
  baseUrl?: string;
  fetch?: typeof fetch;
  now?: () => number;
  /** Called once when the session can no longer be refreshed (revoked, expired, reused refresh token). */
  onSessionLost?: (error: ApiError) => void;
}

export function createApiClient(options: ApiClientOptions = {}): ApiClient {
  const baseUrl = options.baseUrl ?? '';
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  let accessToken: string | null = null;
  let accessExpiresAt = 0;
  let refreshToken: string | null = null;
  let refreshing: Promise<void> | null = null;
  let lost = false;

  function store(tokens: { accessToken: string; expiresIn: number; refreshToken?: string }): void {
    accessToken = tokens.accessToken;
    accessExpiresAt = now() + tokens.expiresIn * 1000;
    if (tokens.refreshToken !== undefined) refreshToken = tokens.refreshToken;
    lost = false;
  }

  function forget(error: ApiError): void {
    accessToken = null;
    refreshToken = null;
    if (!lost) {
      lost = true;
      options.onSessionLost?.(error);
    }
  }

  async function raw(method: string, path: string, body: unknown, auth: boolean): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && accessToken) headers.authorization = `Bearer ${accessToken}`;
    try {
      return await doFetch(`${baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, { code: 'NETWORK_ERROR', message: 'No connection to the server. Check your network.' });
    }
  }

  async function refresh(): Promise<void> {
    if (!refreshToken) {
      const error = new ApiError(401, { code: 'SESSION_ENDED', message: 'Your session has ended.' });
      forget(error);
      throw error;
    }
    // One refresh at a time: the refresh token rotates, so a second use would look like a stolen token.
    refreshing ??= (async () => {
      const response = await raw('POST', '/api/v1/auth/refresh', { refreshToken }, false);
      if (!response.ok) {
        const error = await readError(response);
        if (response.status === 401) forget(error);
        throw error;
      }
      store((await response.json()) as TokenResponse);
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    if (refreshToken && accessExpiresAt - now() < REFRESH_MARGIN_SECONDS * 1000) await refresh();
    let response = await raw(method, path, body, true);
    if (response.status === 401 && refreshToken) {
      const error = await readError(response.clone());
      if (error.code === 'TOKEN_EXPIRED') {
        await refresh();
        response = await raw(method, path, body, true);
      } else if (error.code === 'SESSION_REVOKED') {
        forget(error);
      }
    }
    if (!response.ok) throw await readError(response);
    return response;
  }

  async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await call(method, path, body);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  return {
    async signInWithTelegram(initData) {
      const response = await raw('POST', '/api/v1/auth/telegram', { initData }, false);
      if (!response.ok) throw await readError(response);
      const body = (await response.json()) as Record<string, unknown>;
      if (body.mfaRequired === true && typeof body.challenge === 'string') {
        return {
          kind: 'mfa',
          challenge: body.challenge,
          expiresIn: typeof body.expiresIn === 'number' ? body.expiresIn : 300,
          methods: Array.isArray(body.methods) ? body.methods.filter((m): m is string => typeof m === 'string') : [],
        };
      }
      store(body as unknown as TokenResponse);
      return { kind: 'signed-in' };
    },
    async verifyMfa(challenge, code) {
      const response = await raw('POST', '/api/v1/auth/mfa/verify', { challenge, code }, false);
      if (!response.ok) throw await readError(response);
      store((await response.json()) as TokenResponse);
    },
    async stepUp(code) {
      const body = await json<{ accessToken: string; expiresIn: number }>('POST', '/api/v1/auth/step-up', { code });
      // The refresh token stays: step-up proves presence now, it does not start a new session.
      store({ accessToken: body.accessToken, expiresIn: body.expiresIn });
    },
    get: (path) => json('GET', path),
    post: (path, body) => json('POST', path, body ?? {}),
    put: (path, body) => json('PUT', path, body ?? {}),
    del: (path) => json('DELETE', path),
    async download(path) {
      const response = await call('GET', path);
      return await response.blob();
    },
    async logout() {
      try {
        await call('POST', '/api/v1/auth/logout', {});
      } finally {
        accessToken = null;
        refreshToken = null;
      }
    },
    isSignedIn: () => accessToken !== null,
  };
}
