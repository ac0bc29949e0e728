/**
 * A leaked key must stop working the moment its owner revokes it, and only its owner may revoke it: another
 * person (or a guessed id) must neither revoke nor learn that the key exists.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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

describe('revocation', () => {
  it('stops the key at once and takes it off the list', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Laptop', source: 'api' });
    expect((await f.service.authenticate(key, '198.51.100.7')).ok).toBe(true);

    const revoked = await f.service.revoke({ userId: owner.id, keyId: apiKey.id, source: 'api' });
    expect(revoked.status).toBe('revoked');
    expect(revoked.revokedAt).toEqual(new Date(f.clock.nowMs));
    await expect(f.service.authenticate(key, '198.51.100.7')).resolves.toEqual({
      ok: false,
      reason: 'API_KEY_REVOKED',
    });
    expect(await f.service.list(owner.id)).toEqual([]);
    expect(await f.service.get(owner.id, apiKey.id)).toBeNull();
  });

  it('cannot be revoked twice, nor rotated afterwards', async () => {
    const owner = await f.makeUser();
    const { apiKey } = await f.service.create({ userId: owner.id, name: 'Laptop', source: 'api' });
    await f.service.revoke({ userId: owner.id, keyId: apiKey.id, source: 'api' });
    await expect(f.service.revoke({ userId: owner.id, keyId: apiKey.id, source: 'api' })).rejects.toMatchObject({
      code: 'API_KEY_NOT_FOUND',
      status: 404,
    });
    await expect(f.service.rotate({ userId: owner.id, keyId: apiKey.id, source: 'api' })).rejects.toMatchObject({
      code: 'API_KEY_NOT_FOUND',
    });
  });

  it('answers "not found" for someone else’s key, which keeps working', async () => {
    const owner = await f.makeUser();
    const intruder = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Laptop', source: 'api' });
    for (const attempt of [
      () => f.service.revoke({ userId: intruder.id, keyId: apiKey.id, source: 'api' }),
      () => f.service.rotate({ userId: intruder.id, keyId: apiKey.id, source: 'api' }),
      () => f.service.revoke({ userId: intruder.id, keyId: '00000000-0000-4000-8000-000000000000', source: 'api' }),
      () => f.service.revoke({ userId: intruder.id, keyId: 'not-a-uuid', source: 'api' }),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'API_KEY_NOT_FOUND', status: 404 });
    }
    expect(await f.service.get(intruder.id, apiKey.id)).toBeNull();
    expect(await f.service.list(intruder.id)).toEqual([]);
    expect((await f.service.authenticate(key, '198.51.100.7')).ok).toBe(true);
  });

  it('may be done by one of the owner’s own keys (a key that knows it leaked), recorded as that key', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Leaked', source: 'api' });
    const seen: string[] = [];
    const unsubscribe = f.audit.subscribe((entry) => {
      seen.push(`${entry.action}:${entry.actor.type}:${entry.actor.id}`);
    });
    await f.service.revoke({
      userId: owner.id,
      keyId: apiKey.id,
      actor: { type: 'api_key', keyId: apiKey.id },
      source: 'api',
    });
    unsubscribe();
    expect(seen).toEqual([`api_key.revoked:api_key:${apiKey.id}`]);
    await expect(f.service.authenticate(key, '198.51.100.7')).resolves.toMatchObject({ reason: 'API_KEY_REVOKED' });
  });
});
