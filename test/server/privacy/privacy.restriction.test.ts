/** Restriction (GDPR Art. 18) can be read back, so the person (and the Mini App after a reload) sees its state. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, signInAs } from '#test/helpers/sign-in.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/v1/privacy/restriction', () => {
  it('answers what was last set, and only for the caller', async () => {
    const person = await signInAs(t, 'user');
    const other = await signInAs(t, 'user');
    const read = async (token: string) =>
      (await t.app.inject({ method: 'GET', url: '/api/v1/privacy/restriction', headers: bearer(token) })).json();
    expect(await read(person.accessToken)).toEqual({ restricted: false, restrictedAt: null });
    const set = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/privacy/restriction',
      headers: bearer(person.accessToken),
      payload: { restricted: true },
    });
    expect(set.statusCode).toBe(200);
    const after = await read(person.accessToken);
    expect(after.restricted).toBe(true);
    expect(Number.isNaN(Date.parse(after.restrictedAt))).toBe(false);
    expect(await read(other.accessToken)).toEqual({ restricted: false, restrictedAt: null });
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/privacy/restriction',
      headers: bearer(person.accessToken),
      payload: { restricted: false },
    });
    expect((await read(person.accessToken)).restricted).toBe(false);
  });
});
