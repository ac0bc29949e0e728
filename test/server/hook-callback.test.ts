/**
 * Threat: a callback-style hook whose async body rejects with `undefined` (or null, or a string) would call
 * `done(undefined)`, which Fastify reads as "go on": the request would pass an authentication check that failed.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { settleHook } from '#server/plugins/hook-callback.ts';

describe('settleHook', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'no'],
    ['an object without a prototype', Object.create(null)],
    ['an Error', new Error('refused')],
  ])('stops the request when the hook body rejects with %s', async (_name, reason) => {
    const app = Fastify();
    let handled = 0;
    app.addHook('onRequest', (_request, _reply, done) => settleHook(Promise.reject(reason), done));
    app.get('/guarded', async () => {
      handled += 1;
      return { ok: true };
    });
    const response = await app.inject({ method: 'GET', url: '/guarded' });
    expect(handled).toBe(0);
    expect(response.statusCode).toBe(500);
    await app.close();
  });

  it('lets the request go on when the hook body resolves', async () => {
    const app = Fastify();
    app.addHook('onRequest', (_request, _reply, done) => settleHook(Promise.resolve('ignored'), done));
    app.get('/guarded', async () => ({ ok: true }));
    const response = await app.inject({ method: 'GET', url: '/guarded' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true });
    await app.close();
  });
});
