/**
 * Threat: someone signs in as another Telegram user by forging, altering, replaying or ageing Mini App
 * initData. Each attempt gets 401 with a specific code and an audit entry, and creates no session.
 */
import { sign } from '@telegram-apps/init-data-node';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { signedInitData } from '#test/helpers/init-data.ts';

let t: TestApp;
beforeAll(async () => {
  // Many sign-ins from inject's one address: above the per-address auth limit (rate-limit.*.test.ts test it).
  t = await buildTestApp({
    env: { BOT_TOKEN: TEST_BOT_TOKEN, ADMIN_TELEGRAM_IDS: '900001', RATE_LIMITS: 'auth=1000/60' },
  });
});
afterAll(async () => {
  await t.close();
});

const login = (initData: unknown) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/telegram', payload: { initData } as object });

let userCounter = 700_000;
const fresh = (extra: Parameters<typeof signedInitData>[0] = {}) =>
  signedInitData({ user: { id: ++userCounter, first_name: 'Eve', language_code: 'en' }, ...extra });

async function failureCount(reason: string): Promise<number> {
  const result = await t.database.db.execute(
    sql`select count(*)::int as n from audit_log where action = 'auth.login' and result = 'failure' and reason_code = ${reason}`,
  );
  return Number((result as unknown as { rows: { n: number }[] }).rows[0]?.n);
}

describe('POST /api/v1/auth/telegram', () => {
  it('signs in a valid user: tokens, the user (created once), and an audit entry', async () => {
    const response = await login(fresh());
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: 600,
      user: { telegramId: userCounter, role: 'user' },
    });
    expect(body.accessToken.split('.')).toHaveLength(3);
    expect(body.refreshToken).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.telegramId).toBe(userCounter);
  });

  it('makes a bootstrap admin an admin', async () => {
    const response = await login(signedInitData({ user: { id: 900001, first_name: 'Root' } }));
    expect(response.json().user.role).toBe('admin');
  });

  it('rejects every tampered field', async () => {
    const initData = fresh();
    const params = new URLSearchParams(initData);
    for (const field of ['user', 'auth_date', 'query_id', 'hash']) {
      const tampered = new URLSearchParams(params);
      const value = tampered.get(field) ?? '';
      tampered.set(
        field,
        field === 'user'
          ? value.replace(/"id":\d+/, '"id":1')
          : field === 'auth_date'
            ? String(Number(value) - 1)
            : `${value.slice(0, -1)}${value.endsWith('a') ? 'b' : 'a'}`,
      );
      const response = await login(tampered.toString());
      expect(response.statusCode, field).toBe(401);
      expect(response.json().error.code, field).toBe('INIT_DATA_SIGNATURE_INVALID');
    }
    // An extra field the signature does not cover.
    const extended = new URLSearchParams(params);
    extended.set('start_param', 'admin');
    expect((await login(extended.toString())).json().error.code).toBe('INIT_DATA_SIGNATURE_INVALID');
  });

  it('rejects data signed with another bot token', async () => {
    const response = await login(fresh({ botToken: '987654321:AAother-bot-token-other-bot-tok' }));
    expect(response.statusCode).toBe(401);
    expect(response.json().error.code).toBe('INIT_DATA_SIGNATURE_INVALID');
  });

  it('rejects expired data (older than the max age) and data from the future', async () => {
    const expired = await login(fresh({ authDate: new Date(Date.now() - 2 * 3600 * 1000) }));
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.code).toBe('INIT_DATA_EXPIRED');
    const future = await login(fresh({ authDate: new Date(Date.now() + 3600 * 1000) }));
    expect(future.statusCode).toBe(401);
    expect(future.json().error.code).toBe('INIT_DATA_AUTH_DATE_INVALID');
  });

  it('accepts each initData once (replay)', async () => {
    const initData = fresh();
    expect((await login(initData)).statusCode).toBe(200);
    const replay = await login(initData);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error.code).toBe('INIT_DATA_REPLAYED');
  });

  it('rejects missing hash, missing user, duplicated keys, garbage and oversized input', async () => {
    const params = new URLSearchParams(fresh());
    params.delete('hash');
    expect((await login(params.toString())).json().error.code).toBe('INIT_DATA_HASH_MISSING');

    const noUser = sign({ query_id: 'AAH' } as Parameters<typeof sign>[0], TEST_BOT_TOKEN, new Date());
    expect((await login(noUser)).json().error.code).toBe('INIT_DATA_USER_MISSING');

    const duplicated = `${fresh()}&user=${encodeURIComponent('{"id":1,"first_name":"Mallory"}')}`;
    expect((await login(duplicated)).json().error.code).toBe('INIT_DATA_MALFORMED');

    for (const garbage of ['%%%', 'hash=', '\u0000\u0000']) {
      const response = await login(garbage);
      expect(response.statusCode, garbage).toBe(401);
    }
    const oversized = await login(`a=${'x'.repeat(5000)}`);
    expect(oversized.statusCode).toBe(400);
    expect(oversized.json().error.code).toBe('VALIDATION_FAILED');
    expect((await login({ user: 'x' })).statusCode).toBe(400);
    expect((await login(['a', 'b'])).statusCode).toBe(400);
  });

  it('records every failure in the audit trail, with its reason and without the initData', async () => {
    expect(await failureCount('INIT_DATA_SIGNATURE_INVALID')).toBeGreaterThanOrEqual(6);
    expect(await failureCount('INIT_DATA_REPLAYED')).toBe(1);
    expect(await failureCount('INIT_DATA_EXPIRED')).toBe(1);
    const dump = await t.database.db.execute(sql`select * from audit_log`);
    expect(JSON.stringify((dump as unknown as { rows: unknown[] }).rows)).not.toContain('hash=');
  });

  it('refuses sign-in for a blocked account', async () => {
    const initData = signedInitData({ user: { id: 800_123, first_name: 'Blocked' } });
    await login(signedInitData({ user: { id: 800_123, first_name: 'Blocked' }, queryId: 'first' }));
    const blocked = await findUserByTelegramId(t.database.db, 800_123);
    expect(blocked).not.toBeNull();
    await t.database.db.execute(sql`update users set status = 'blocked' where id = ${blocked?.id}`);
    const response = await login(initData);
    expect(response.statusCode).toBe(403);
    expect(response.json().error.code).toBe('ACCOUNT_NOT_ACTIVE');
  });

  it('answers 503 with a code when Telegram sign-in is not configured', async () => {
    const unconfigured = await buildTestApp();
    const response = await unconfigured.app.inject({
      method: 'POST',
      url: '/api/v1/auth/telegram',
      payload: { initData: fresh() },
    });
    expect(response.statusCode).toBe(503);
    expect(response.json().error.code).toBe('TELEGRAM_LOGIN_UNAVAILABLE');
    await unconfigured.close();
  });
});
