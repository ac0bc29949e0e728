/**
 * Threat: an API route that forgets its permission, or a role that can do more than the permission table says,
 * is an open door that no other test notices. Every registered route is called by every kind of caller, and
 * the answer must follow from the route's declaration alone: public routes never refuse for lack of
 * credentials, declared ones refuse anonymous callers (401) and roles without the permission (403), and let
 * roles with it through to the handler. A route under /api/ that declares nothing cannot even be registered.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import type { RouteEntry } from '#server/app.ts';
import { authPlugin } from '#server/plugins/auth.ts';
import { errorHandlerPlugin } from '#server/plugins/error-handler.ts';
import type { UserRole } from '#shared/db/schema.ts';
import { isPermission, type Permission, READ_PERMISSIONS, ROLE_PERMISSIONS, roleHas } from '#shared/identity/rbac.ts';
import { buildTestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { signedInitData } from '#test/helpers/init-data.ts';
import { bearer, nextTelegramId, type SignedIn, signIn, signInAs } from '#test/helpers/sign-in.ts';

/** Routes outside /api/ are public by design; this list is every one of them (a new one must be added here). */
const PUBLIC_OUTSIDE_API = [
  /^\/healthz$/,
  /^\/readyz$/,
  /^\/openapi\.json$/,
  /^\/\.well-known\/jwks\.json$/,
  /^\/telegram\/webhook$/, // guarded by Telegram's secret token instead
  /^\/app(\/.*)?$/, // the Mini App's static files
  /^\/docs(\/.*)?$/, // the API docs (Swagger UI), only when DOCS_ENABLED
  /^\/$/, // redirects to /app/
  /^\*$/, // CORS preflight (OPTIONS *): answered for CORS_ORIGINS only (plugins/cors.ts)
  /^\/metrics$/, // Prometheus: METRICS_TOKEN or an admin's token, checked in the handler (routes/metrics)
];

/**
 * State-changing routes that only need a :read permission, on purpose: they touch nothing but the caller's
 * own session, so every signed-in role (readonly included) may use them.
 */
const READ_PERMISSION_WRITES = [
  'POST /api/v1/auth/logout',
  'POST /api/v1/auth/step-up',
  // Asking for a human review of an automated decision about oneself (GDPR Art. 22(3)): open to every role.
  'POST /api/v1/decisions/:id/review',
];

// Built while the tests are collected: the route table decides which tests exist.
// Every route times every role from inject's one address: above the default limits (rate-limit.*.test.ts test them).
const t = await buildTestApp({
  env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=10000/60,api=10000/60,global=10000/60' },
});
afterAll(async () => {
  await t.close();
});

const people = {
  readonly: await signInAs(t, 'readonly'),
  user: await signInAs(t, 'user'),
  admin: await signInAs(t, 'admin'),
} satisfies Record<UserRole, SignedIn>;

/** An API key of the `user` person with the default scopes (every non-admin permission of the role). */
const apiKey = await t.services.apiKeys.create({ userId: people.user.userId, name: 'matrix', source: 'api' });

const declaredRoutes = t.app.routeTable.filter(
  (route) => route.config.permission !== undefined || route.config.public === true,
);

/** `passes auth`, or the refusal: status and error code (status only for HEAD, whose answers have no body). */
type Verdict = 'passes auth' | `${401 | 403 | 429}` | `${401 | 403 | 429} ${string}`;

/**
 * Refusals that come from a handler's own rule after the auth layer let the caller through, so the matrix
 * states them instead of hiding them: route → caller → verdict.
 */
const HANDLER_REFUSALS: Record<string, Record<string, Verdict>> = {
  // A leaked key must not mint or renew keys for itself, whatever its scopes (shared/api-keys).
  'POST /api/v1/api-keys': { 'api key': '403 API_KEY_CANNOT_MANAGE_KEYS' },
  'POST /api/v1/api-keys/:id/rotate': { 'api key': '403 API_KEY_CANNOT_MANAGE_KEYS' },
  // The matrix's made-up challenge and code are refused by the handler, after the auth layer let them through.
  'POST /api/v1/auth/mfa/verify': {
    anonymous: '401 MFA_CHALLENGE_INVALID',
    readonly: '401 MFA_CHALLENGE_INVALID',
    user: '401 MFA_CHALLENGE_INVALID',
    admin: '401 MFA_CHALLENGE_INVALID',
    'api key': '401 MFA_CHALLENGE_INVALID',
  },
  // Erasure is the account owner's own act, in a session: a leaked key must not be able to delete the account.
  'POST /api/v1/privacy/erasure': { 'api key': '403 SESSION_REQUIRED' },
  // An enrolment was started by the route before; the matrix's code is not the current one.
  'POST /api/v1/mfa/enrolment/confirm': { user: '401 SECOND_FACTOR_INVALID', admin: '401 SECOND_FACTOR_INVALID' },
};

interface Caller {
  name: string;
  /** Headers for one request (a fresh session each time: some routes end the session they are called with). */
  headers(route: RouteEntry): Promise<Record<string, string>>;
  /** What the auth layer must answer on a route needing `permission` (and maybe a recent second factor). */
  expected(permission: Permission, stepUpSeconds: number | undefined): Verdict;
}

function sessionCaller(role: UserRole): Caller {
  const person = people[role];
  return {
    name: role,
    async headers(route) {
      const session = await signIn(t.app, { id: person.telegramId, first_name: 'Tester' });
      // A step-up route is tested for its permission here; step-up itself has its own test file.
      if (route.config.stepUpSeconds !== undefined) {
        await t.services.sessions.markSecondFactor(session.sessionId, Math.floor(Date.now() / 1000));
      }
      return bearer(session.accessToken);
    },
    expected: (permission) => (roleHas(role, permission) ? 'passes auth' : '403 PERMISSION_DENIED'),
  };
}

const callers: Caller[] = [
  { name: 'anonymous', headers: async () => ({}), expected: () => '401 AUTH_REQUIRED' },
  sessionCaller('readonly'),
  sessionCaller('user'),
  sessionCaller('admin'),
  {
    name: 'api key',
    headers: async () => ({ 'x-api-key': apiKey.key }),
    expected: (permission, stepUpSeconds) =>
      !apiKey.apiKey.effectiveScopes.includes(permission)
        ? '403 PERMISSION_DENIED'
        : stepUpSeconds !== undefined
          ? '403 STEP_UP_REQUIRED' // a key has no second factor: step-up routes are never open to it
          : 'passes auth',
  },
];

/** The subset of JSON Schema our TypeBox route schemas use. */
interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
}

const STRING_CANDIDATES = ['123456', 'abcdef', 'Abc123', 'a1-b2_c3'];

/** A small valid value for `schema`, so requests reach the auth layer's verdict, not a 400 before it. */
function sampleOf(schema: JsonSchema | undefined): unknown {
  if (!schema) return undefined;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const choice = schema.anyOf?.[0] ?? schema.oneOf?.[0];
  if (choice) return sampleOf(choice);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((part) => sampleOf(part)));
  switch (schema.type) {
    case 'object':
      return Object.fromEntries((schema.required ?? []).map((key) => [key, sampleOf(schema.properties?.[key])]));
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => sampleOf(schema.items));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    case 'string': {
      if (schema.format === 'uuid') return randomUUID();
      if (schema.format === 'date-time') return new Date().toISOString();
      if (schema.format === 'email') return 'someone@example.com';
      if (schema.format === 'uri') return 'https://example.com/';
      const length = Math.max(schema.minLength ?? 1, 6);
      const pattern = schema.pattern ? new RegExp(schema.pattern, 'u') : undefined;
      for (const candidate of STRING_CANDIDATES) {
        const value = candidate.repeat(Math.ceil(length / candidate.length)).slice(0, length);
        if (!pattern || pattern.test(value)) return value;
      }
      throw new Error(`no sample string matches ${schema.pattern}: add one to STRING_CANDIDATES`);
    }
    default:
      return undefined;
  }
}

/** Public routes whose only valid bodies are real credentials (anything else is a correct 401 of the handler). */
const PUBLIC_BODIES: Record<string, () => Promise<unknown>> = {
  'POST /api/v1/auth/telegram': async () => ({
    initData: signedInitData({
      user: { id: nextTelegramId(), first_name: 'Newcomer' },
      queryId: `AAH${randomBytes(12).toString('base64url')}`,
    }),
  }),
  'POST /api/v1/auth/refresh': async () => ({
    refreshToken: (await signIn(t.app, { id: nextTelegramId(), first_name: 'Refresher' })).refreshToken,
  }),
};

async function requestFor(route: RouteEntry, headers: Record<string, string>): Promise<InjectOptions> {
  const schema = (route.schema ?? {}) as { params?: JsonSchema; body?: JsonSchema; querystring?: JsonSchema };
  const params = (sampleOf(schema.params) ?? {}) as Record<string, unknown>;
  const url = route.url.replace(/:(\w+)/g, (_match, name: string) => encodeURIComponent(String(params[name] ?? 'x')));
  const bodyOf = PUBLIC_BODIES[`${route.method} ${route.url}`];
  const body = bodyOf ? await bodyOf() : sampleOf(schema.body);
  const query = sampleOf(schema.querystring) as Record<string, string> | undefined;
  return {
    method: route.method as InjectOptions['method'],
    url,
    headers,
    ...(query ? { query } : {}),
    ...(body !== undefined ? { payload: body as InjectOptions['payload'] } : {}),
  };
}

async function verdictOf(route: RouteEntry, caller: Caller): Promise<Verdict> {
  const response = await t.app.inject(await requestFor(route, await caller.headers(route)));
  const status = response.statusCode as 401 | 403 | 429;
  if (![401, 403, 429].includes(status)) return 'passes auth';
  if (route.method === 'HEAD') return `${status}`;
  return `${status} ${(response.json() as { error: { code: string } }).error.code}`;
}

/** The verdict the declaration (and the stated handler refusals) call for. */
function expectedVerdict(route: RouteEntry, caller: Caller): Verdict {
  const { permission, stepUpSeconds } = route.config;
  const refusal = HANDLER_REFUSALS[`${route.method === 'HEAD' ? 'GET' : route.method} ${route.url}`]?.[caller.name];
  const verdict =
    refusal ?? (route.config.public ? 'passes auth' : caller.expected(permission as Permission, stepUpSeconds));
  return route.method === 'HEAD' && verdict !== 'passes auth' ? (verdict.split(' ')[0] as Verdict) : verdict;
}

describe('the route table', () => {
  it('has every route the app serves, with its declaration', () => {
    const keys = t.app.routeTable.map((route) => `${route.method} ${route.url}`);
    expect(keys).toEqual(
      expect.arrayContaining([
        'POST /api/v1/auth/telegram',
        'GET /api/v1/me',
        'DELETE /api/v1/sessions/:id',
        'PUT /api/v1/admin/users/:id/role',
        'GET /healthz',
      ]),
    );
    expect(t.app.routeTable.find((route) => route.url === '/api/v1/admin/users/:id/role')?.config.permission).toBe(
      'admin:roles:write',
    );
  });

  it('declares a known permission, or public, on every route under /api/', () => {
    const undeclared = t.app.routeTable.filter(
      (route) =>
        route.url.startsWith('/api/') &&
        !(route.config.public === true || (route.config.permission && isPermission(route.config.permission))),
    );
    expect(undeclared.map((route) => `${route.method} ${route.url}`)).toEqual([]);
  });

  it('keeps admin: permissions on /api/v1/admin/ routes, and nothing weaker there', () => {
    const misplaced = declaredRoutes.filter(
      (route) => route.url.startsWith('/api/v1/admin/') !== Boolean(route.config.permission?.startsWith('admin:')),
    );
    expect(misplaced.map((route) => `${route.method} ${route.url} (${route.config.permission})`)).toEqual([]);
  });

  it('never lets a :read permission change state, except the stated own-session actions', () => {
    const changesWithRead = declaredRoutes.filter(
      (route) =>
        !['GET', 'HEAD'].includes(route.method) &&
        route.config.permission?.endsWith(':read') &&
        !READ_PERMISSION_WRITES.includes(`${route.method} ${route.url}`),
    );
    expect(changesWithRead.map((route) => `${route.method} ${route.url} (${route.config.permission})`)).toEqual([]);
  });

  it('has no undeclared route outside /api/ except the known public ones', () => {
    const unexpected = t.app.routeTable.filter(
      (route) =>
        route.config.permission === undefined &&
        route.config.public !== true &&
        !PUBLIC_OUTSIDE_API.some((pattern) => pattern.test(route.url)),
    );
    expect(unexpected.map((route) => `${route.method} ${route.url}`)).toEqual([]);
  });
});

describe.each(declaredRoutes.map((route) => ({ label: `${route.method} ${route.url}`, route })))(
  '$label',
  ({ route }) => {
    const { permission, stepUpSeconds } = route.config;
    const callerNames = callers.map((caller) => caller.name).join(', ');
    const title = route.config.public
      ? 'is public: no caller is refused for credentials'
      : `needs ${permission}${stepUpSeconds === undefined ? '' : ' and step-up'}`;

    it(`${title} (${callerNames})`, async () => {
      const actual: Record<string, Verdict> = {};
      const expected: Record<string, Verdict> = {};
      for (const caller of callers) {
        expected[caller.name] = expectedVerdict(route, caller);
        actual[caller.name] = await verdictOf(route, caller);
      }
      expect(actual).toEqual(expected);
    });
  },
);

describe('declaring a permission is not optional', () => {
  /** Registers routes on a bare app with the real auth plugin; returns the registration error, if any. */
  async function registrationError(declare: (app: FastifyInstance) => void | Promise<void>): Promise<unknown> {
    const app = Fastify();
    try {
      await app.register(errorHandlerPlugin);
      await app.register(authPlugin, { signer: t.services.signer, sessions: t.services.sessions });
      await declare(app);
      await app.ready();
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await app.close().catch(() => {});
    }
  }

  it('refuses to register an /api/ route that declares neither a permission nor public', async () => {
    const error = await registrationError((app) => {
      app.get('/api/v1/forgotten', async () => ({ secret: true }));
    });
    expect(String(error)).toMatch(/GET \/api\/v1\/forgotten declares no permission/);
  });

  it('refuses `public: false` and an undeclared route inside a prefixed, encapsulated plugin', async () => {
    const notPublic = await registrationError((app) => {
      app.post('/api/v1/explicitly-not-public', { config: { public: false } }, async () => ({}));
    });
    expect(String(notPublic)).toMatch(/declares no permission/);
    const nested = await registrationError(async (app) => {
      await app.register(
        async (child) => {
          child.delete('/v1/nested/:id', async () => ({}));
        },
        { prefix: '/api' },
      );
    });
    expect(String(nested)).toMatch(/DELETE \/api\/v1\/nested\/:id declares no permission/);
  });

  it('accepts declared /api/ routes and undeclared routes outside /api/', async () => {
    const error = await registrationError((app) => {
      app.get('/api/v1/declared', { config: { permission: 'profile:read' } }, async () => ({}));
      app.get('/api/v1/open', { config: { public: true } }, async () => ({}));
      app.get('/status', async () => ({}));
    });
    expect(error).toBeUndefined();
  });
});

describe('readonly', () => {
  it('has only :read permissions, and no admin ones', () => {
    expect(ROLE_PERMISSIONS.readonly.filter((permission) => !permission.endsWith(':read'))).toEqual([]);
    expect(ROLE_PERMISSIONS.readonly.filter((permission) => permission.startsWith('admin:'))).toEqual([]);
    expect(READ_PERMISSIONS.every((permission) => permission.endsWith(':read'))).toBe(true);
  });

  it('is told exactly those permissions by the API', async () => {
    const session = await signIn(t.app, { id: people.readonly.telegramId, first_name: 'Tester' });
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(session.accessToken) });
    expect(response.statusCode).toBe(200);
    const body = response.json() as { user: { role: string }; permissions: string[] };
    expect(body.user.role).toBe('readonly');
    expect(body.permissions).toEqual([...ROLE_PERMISSIONS.readonly]);
    expect(body.permissions.every((permission) => permission.endsWith(':read'))).toBe(true);
  });
});
