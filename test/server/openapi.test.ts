/**
 * Threat: documentation that says a route is open when it is not (or the reverse) misleads every client and
 * reviewer. The OpenAPI document is generated from the route declarations: every route is in it, with the
 * security its declaration calls for, its permission and the errors the shared plugins answer with. The
 * docs UI is served only when configured, from local files, under its own CSP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';

interface Operation {
  security?: Record<string, string[]>[];
  'x-permission'?: string;
  description?: string;
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
}
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, Record<string, string>>; schemas: Record<string, unknown> };
}

let t: TestApp;
let doc: Doc;
beforeAll(async () => {
  t = await buildTestApp({ env: { DOCS_ENABLED: 'true' } });
  doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc;
});
afterAll(async () => {
  await t.close();
});

const operationOf = (method: string, url: string) =>
  doc.paths[url.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()] as Operation;
const apiRoutes = () => t.app.routeTable.filter((route) => route.url.startsWith('/api/') && route.method !== 'HEAD');

describe('/openapi.json', () => {
  it('is OpenAPI 3.1 with the bearer JWT and X-API-Key schemes', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
    expect(doc.components.schemas.Error).toBeDefined();
  });

  it('documents every API route', () => {
    const missing = apiRoutes().filter((route) => !operationOf(route.method, route.url));
    expect(missing.map((route) => `${route.method} ${route.url}`)).toEqual([]);
  });

  it('gives every route the security, permission and errors of its declaration', () => {
    for (const route of apiRoutes()) {
      const operation = operationOf(route.method, route.url);
      const label = `${route.method} ${route.url}`;
      if (route.config.public) {
        expect(operation.security, label).toEqual([]);
        expect(operation['x-permission'], label).toBeUndefined();
        continue;
      }
      const schemes = (operation.security ?? []).flatMap((entry) => Object.keys(entry));
      expect(schemes, label).toEqual(
        route.config.stepUpSeconds === undefined ? ['bearerAuth', 'apiKey'] : ['bearerAuth'],
      );
      expect(operation['x-permission'], label).toBe(route.config.permission);
      expect(operation.description, label).toContain(`\`${route.config.permission}\``);
      expect(Object.keys(operation.responses), label).toEqual(expect.arrayContaining(['401', '403', '429']));
    }
  });

  it('refers 400s of routes with input to the Error schema (VALIDATION_FAILED)', () => {
    const operation = operationOf('POST', '/api/v1/auth/refresh');
    expect(operation.security).toEqual([]);
    expect(operation.responses['400']?.content?.['application/json']?.schema.$ref).toBe('#/components/schemas/Error');
    expect(operation.responses['429']?.content?.['application/json']?.schema.$ref).toBe('#/components/schemas/Error');
  });

  it('leaves the docs and static files out', () => {
    expect(Object.keys(doc.paths).filter((path) => path.startsWith('/docs') || path.startsWith('/app'))).toEqual([]);
  });
});

describe('/docs', () => {
  it('serves Swagger UI from local files under a CSP of its own', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    // No CDN: every script and stylesheet is a relative or same-origin URL.
    expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("script-src 'self' 'unsafe-inline'");
    expect(csp).toContain("frame-ancestors 'none'");
    const script = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(script.statusCode).toBe(200);
  });

  it('keeps the deny-all CSP on the API', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
  });

  it('is not served when DOCS_ENABLED=false', async () => {
    const off = await buildTestApp({ env: { DOCS_ENABLED: 'false' } });
    try {
      expect((await off.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBe(404);
      expect((await off.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })).statusCode).toBe(404);
      expect((await off.app.inject({ method: 'GET', url: '/openapi.json' })).statusCode).toBe(200);
    } finally {
      await off.close();
    }
  });
});
