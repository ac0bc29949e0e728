/**
 * What a person can store through keys is bounded: a name cannot carry line breaks or control characters
 * (which would let it forge lines in the bot's and the API's output), and one person cannot pile up more than
 * 25 active keys (each a credential to watch, and rows and counters to keep).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_API_KEYS_PER_USER } from '#shared/api-keys/index.ts';
import { type ApiKeyFixture, createApiKeyFixture } from '#test/helpers/api-keys.ts';

let f: ApiKeyFixture;
beforeAll(async () => {
  f = await createApiKeyFixture();
});
beforeEach(async () => {
  await f.reset();
});
afterAll(async () => {
  await f.close();
});

describe('limits', () => {
  it('trims names and refuses empty, over-long and control-character names', async () => {
    const owner = await f.makeUser();
    const { apiKey } = await f.service.create({ userId: owner.id, name: '  CI deploy  ', source: 'api' });
    expect(apiKey.name).toBe('CI deploy');
    for (const name of ['', '   ', 'x'.repeat(65), 'two\nlines', 'tab\there', 'nul\u0000', 'line\u2028sep']) {
      await expect(f.service.create({ userId: owner.id, name, source: 'api' })).rejects.toMatchObject({
        code: 'API_KEY_NAME_INVALID',
        status: 400,
      });
    }
    const long = await f.service.create({ userId: owner.id, name: 'é'.repeat(64), source: 'api' });
    expect(long.apiKey.name).toHaveLength(64);
  });

  it(`allows ${MAX_API_KEYS_PER_USER} active keys per person, and another once one is revoked`, async () => {
    const owner = await f.makeUser();
    const other = await f.makeUser();
    const made = [];
    for (let index = 0; index < MAX_API_KEYS_PER_USER; index++) {
      made.push(await f.service.create({ userId: owner.id, name: `Key ${index + 1}`, source: 'api' }));
    }
    await expect(f.service.create({ userId: owner.id, name: 'One more', source: 'api' })).rejects.toMatchObject({
      code: 'API_KEY_LIMIT_REACHED',
      status: 409,
    });
    // Someone else's keys are not counted against them.
    await expect(f.service.create({ userId: other.id, name: 'Theirs', source: 'api' })).resolves.toBeDefined();
    const first = made[0];
    if (!first) throw new Error('fixture');
    await f.service.revoke({ userId: owner.id, keyId: first.apiKey.id, source: 'api' });
    await expect(f.service.create({ userId: owner.id, name: 'One more', source: 'api' })).resolves.toBeDefined();
  });
});
