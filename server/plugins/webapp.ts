/**
 * Serves the built Mini App under /app/: hashed assets cached for a year (immutable), index.html never
 * cached, and client-side routes falling back to index.html.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const NO_CACHE = 'no-cache, no-store, must-revalidate';

export interface WebappOptions {
  /** Folder with the Vite build (index.html + assets/). */
  root: string;
}

export const webappPlugin = fp<WebappOptions>(
  async (app: FastifyInstance, options) => {
    const index = join(options.root, 'index.html');
    app.get('/app', { schema: { hide: true } }, (_request, reply) => reply.redirect('/app/', 301));
    // The site's root is the Mini App (a 302: the root may serve something else one day).
    app.get('/', { schema: { hide: true } }, (_request, reply) => reply.redirect('/app/', 302));
    if (!existsSync(index)) {
      app.log.warn(`The Mini App is not built (${index} missing): run \`npm run build\``);
      app.get('/app/*', { schema: { hide: true } }, (_request, reply) =>
        reply.status(503).send({ error: { code: 'WEBAPP_NOT_BUILT', message: 'The Mini App is not built yet.' } }),
      );
      return;
    }
    await app.register(fastifyStatic, {
      root: options.root,
      prefix: '/app/',
      wildcard: false, // one route per built file, found at start; everything else reaches the fallback
      cacheControl: false,
      etag: true,
      lastModified: true,
      setHeaders(res, path) {
        const isHashedAsset = path.includes(`${join(options.root, 'assets')}/`);
        res.header('cache-control', isHashedAsset ? IMMUTABLE : NO_CACHE);
      },
    });
    app.get('/app/*', { schema: { hide: true } }, (request, reply) => {
      const path = request.url.split('?')[0] ?? '';
      // A missing asset must 404, not return HTML that a browser would try to run as a script.
      if (path.startsWith('/app/assets/') || /\.[a-z0-9]{1,8}$/i.test(path)) {
        return reply.status(404).send({ error: { code: 'NOT_FOUND', message: 'No such file.' } });
      }
      reply.header('cache-control', NO_CACHE);
      return reply.sendFile('index.html', options.root, { cacheControl: false });
    });
  },
  { name: 'webapp' },
);
