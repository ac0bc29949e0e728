/**
 * Threat: the development signer mints valid Telegram initData for any user id. Enabled in production it would
 * let anyone sign in as anyone, admins included. It must be impossible to turn on there: the config refuses the
 * flag with NODE_ENV=production, the real process will not start with it, the route is absent unless opted in,
 * and the route plugin itself refuses a production config. Outside production, opted in, it works end to end.
 */
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devRoutes } from '#server/routes/dev/index.ts';
import { ConfigError, parseConfig } from '#shared/config/index.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { runMain } from '#test/helpers/spawn-server.ts';
import { createTestConfig } from '#test/helpers/test-config.ts';

describe('the development signer cannot be enabled in production', () => {
  it('the config schema refuses DEV_SIGNER_ENABLED=true with NODE_ENV=production, naming the key', () => {
    let error: unknown;
    try {
      parseConfig({ NODE_ENV: 'production', DEV_SIGNER_ENABLED: 'true' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.some((problem) => problem.startsWith('DEV_SIGNER_ENABLED:'))).toBe(true);
    // Off (or unset) is fine in production as far as this key goes.
    expect(() => parseConfig({ NODE_ENV: 'production', DEV_SIGNER_ENABLED: 'false' })).toThrow(
      expect.not.objectContaining({ message: expect.stringContaining('DEV_SIGNER_ENABLED') }),
    );
  });

  it('outside production the flag is off unless set, and on only when set to true', () => {
    expect(createTestConfig().config.devSignerEnabled).toBe(false);
    expect(createTestConfig({ DEV_SIGNER_ENABLED: 'false' }).config.devSignerEnabled).toBe(false);
    expect(createTestConfig({ DEV_SIGNER_ENABLED: 'true' }).config.devSignerEnabled).toBe(true);
  });

  it('the real process refuses to start in production with the flag set', async () => {
    const result = await runMain({ NODE_ENV: 'production', DEV_SIGNER_ENABLED: 'true', DATA_DIR: '/nonexistent-dir' });
    expect(result.code).toBe(1);
    expect(result.output).toContain('DEV_SIGNER_ENABLED');
  }, 30_000);

  it('the route plugin refuses to register with a production config, even if the flag were set', async () => {
    const { config } = createTestConfig({ DEV_SIGNER_ENABLED: 'true' });
    const app = Fastify();
    await expect(
      app.register(devRoutes, { config: { ...config, nodeEnv: 'production', isProduction: true } }).ready(),
    ).rejects.toThrow(/cannot be registered in production/);
    await app.close();
  });
});

describe('routes of the development signer', () => {
  let off: TestApp;
  let on: TestApp;
  beforeAll(async () => {
    off = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
    on = await buildTestApp({
      env: { BOT_TOKEN: TEST_BOT_TOKEN, DEV_SIGNER_ENABLED: 'true' },
      database: off.database,
      secrets: off.secrets,
    });
  }, 180_000);
  afterAll(async () => {
    await on?.close();
    await off?.close();
  });

  it('are not registered without the opt-in (404, and absent from the route table)', async () => {
    expect(off.app.routeTable.some((route) => route.url.startsWith('/api/v1/dev/'))).toBe(false);
    const probe = await off.app.inject({ method: 'GET', url: '/api/v1/dev/signer' });
    expect(probe.statusCode).toBe(404);
    const mint = await off.app.inject({
      method: 'POST',
      url: '/api/v1/dev/init-data',
      payload: { telegramId: 1, firstName: 'Eve' },
    });
    expect(mint.statusCode).toBe(404);
  });

  it('when opted in, sign initData that the real sign-in accepts once', async () => {
    const probe = await on.app.inject({ method: 'GET', url: '/api/v1/dev/signer' });
    expect(probe.json()).toEqual({ enabled: true, botConfigured: true });
    const mint = await on.app.inject({
      method: 'POST',
      url: '/api/v1/dev/init-data',
      payload: { telegramId: 700_000_001, firstName: 'Dev', username: 'dev_user' },
    });
    expect(mint.statusCode).toBe(200);
    const { initData } = mint.json() as { initData: string };
    expect(new URLSearchParams(initData).get('hash')).toMatch(/^[0-9a-f]{64}$/);
    const signIn = await on.app.inject({ method: 'POST', url: '/api/v1/auth/telegram', payload: { initData } });
    expect(signIn.statusCode).toBe(200);
    expect((signIn.json() as { user: { telegramId: number } }).user.telegramId).toBe(700_000_001);
    const replay = await on.app.inject({ method: 'POST', url: '/api/v1/auth/telegram', payload: { initData } });
    expect(replay.statusCode).toBe(401);
    expect((replay.json() as { error: { code: string } }).error.code).toBe('INIT_DATA_REPLAYED');
  });

  it('refuse malformed requests with 400 and the failing field', async () => {
    for (const payload of [
      { telegramId: 0, firstName: 'Dev' },
      { telegramId: 1.5, firstName: 'Dev' },
      { telegramId: 1, firstName: '' },
      { telegramId: 1, firstName: 'Dev', username: 'x;drop' },
      { telegramId: 2 ** 53, firstName: 'Dev' },
    ]) {
      const response = await on.app.inject({ method: 'POST', url: '/api/v1/dev/init-data', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect((response.json() as { error: { code: string } }).error.code).toMatch(/^[A-Z_]+$/);
    }
  });
});
