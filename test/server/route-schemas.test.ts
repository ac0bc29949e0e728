/**
 * Threat: input that no schema bounds reaches handlers, the database and logs (oversized strings, unexpected
 * keys), and output that no schema shapes can leak fields. Every route in the route table is checked: each
 * /api/ route declares a response schema for its success status, no body object accepts undeclared keys,
 * and every string a client sends (body, path, query) has a maxLength.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { RouteEntry } from '#server/app.ts';
import { buildTestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot } from '#test/helpers/create-test-bot.ts';
import { createTestDatabase } from '#test/helpers/test-db.ts';

/** Bodies that are open on purpose, with the reason (a new one needs one too). */
const OPEN_BODIES: Record<string, string> = {
  // Telegram's Update has dozens of optional shapes and grows with every Bot API release; grammY reads it.
  'POST /telegram/webhook': 'Telegram Update (guarded by the secret token, 1 MB limit)',
};

interface Schema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  maxLength?: number;
  additionalProperties?: boolean | Schema;
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  items?: Schema | Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
}

/** Every sub-schema of `schema`, with its JSON pointer-ish path. */
function* walk(schema: Schema | undefined, path: string): Generator<[string, Schema]> {
  if (!schema || typeof schema !== 'object') return;
  yield [path, schema];
  for (const [key, child] of Object.entries(schema.properties ?? {})) yield* walk(child, `${path}/${key}`);
  for (const [key, child] of Object.entries(schema.patternProperties ?? {})) yield* walk(child, `${path}/${key}`);
  if (typeof schema.additionalProperties === 'object') yield* walk(schema.additionalProperties, `${path}/*`);
  for (const child of [schema.items ?? []].flat()) yield* walk(child, `${path}/[]`);
  for (const list of [schema.anyOf, schema.oneOf, schema.allOf]) {
    for (const [index, child] of (list ?? []).entries()) yield* walk(child, `${path}|${index}`);
  }
}

const typesOf = (schema: Schema) => [schema.type ?? []].flat();

/** Objects in `schema` that accept keys they do not declare. */
function openObjects(schema: Schema | undefined, root: string): string[] {
  return [...walk(schema, root)]
    .filter(([, node]) => (typesOf(node).includes('object') || node.properties) && node.additionalProperties !== false)
    .map(([path]) => path);
}

/** Free-form strings in `schema` (not a const or an enum) with no maxLength. */
function unboundedStrings(schema: Schema | undefined, root: string): string[] {
  return [...walk(schema, root)]
    .filter(
      ([, node]) =>
        typesOf(node).includes('string') &&
        node.const === undefined &&
        node.enum === undefined &&
        typeof node.maxLength !== 'number',
    )
    .map(([path]) => path);
}

const database = await createTestDatabase();
const { bot } = createTestBot({ db: database.db });
// Webhook mode and docs on: every route the app can serve is in the table.
const t = await buildTestApp({ database, bot, env: { BOT_MODE: 'webhook', DOCS_ENABLED: 'true' } });
afterAll(async () => {
  await t.close();
  await database.close();
});

const key = (route: RouteEntry) => `${route.method} ${route.url}`;
const schemaOf = (route: RouteEntry) =>
  (route.schema ?? {}) as { body?: Schema; params?: Schema; querystring?: Schema; response?: Record<string, unknown> };

describe('the schema walker', () => {
  it('finds open objects and unbounded strings, however deep', () => {
    const schema: Schema = {
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { type: 'string', maxLength: 10 },
        role: { type: 'string', enum: ['a'] },
        nested: { type: 'object', properties: { note: { type: 'string' } } },
        list: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'null' }] } },
      },
    };
    expect(openObjects(schema, 'body')).toEqual(['body/nested']);
    expect(unboundedStrings(schema, 'body')).toEqual(['body/nested/note', 'body/list/[]|0']);
  });
});

describe('every route', () => {
  it('declares a response schema for its success status under /api/', () => {
    const missing = t.app.routeTable
      .filter((route) => route.url.startsWith('/api/'))
      .filter((route) => !Object.keys(schemaOf(route).response ?? {}).some((status) => /^2(\d\d|XX)$/i.test(status)))
      .map(key);
    expect(missing).toEqual([]);
  });

  it('refuses undeclared keys in every body object', () => {
    const open = t.app.routeTable
      .filter((route) => OPEN_BODIES[key(route)] === undefined)
      .flatMap((route) => openObjects(schemaOf(route).body, 'body').map((path) => `${key(route)} ${path}`));
    expect(open).toEqual([]);
  });

  it('bounds every string a client sends: body, path parameters and query', () => {
    const unbounded = t.app.routeTable.flatMap((route) => {
      const { body, params, querystring } = schemaOf(route);
      return [
        ...(OPEN_BODIES[key(route)] === undefined ? unboundedStrings(body, 'body') : []),
        ...unboundedStrings(params, 'params'),
        ...unboundedStrings(querystring, 'querystring'),
      ].map((path) => `${key(route)} ${path}`);
    });
    expect(unbounded).toEqual([]);
  });

  it('still has the routes these checks are about', () => {
    expect(t.app.routeTable.map(key)).toEqual(
      expect.arrayContaining([
        'POST /api/v1/auth/telegram',
        'PUT /api/v1/admin/users/:id/role',
        'POST /telegram/webhook',
      ]),
    );
  });
});
