/**
 * A key must never do more than its owner may do now: it cannot be created with a permission the owner's
 * role lacks, its effective permissions are its scopes ∩ the owner's current role (so demoting a person
 * shrinks their keys at once), and a blocked person's keys stop working.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultScopes } from '#shared/api-keys/index.ts';
import { users } from '#shared/db/schema.ts';
import type { ApiKeyAuthResult } from '#shared/identity/principal.ts';
import { PERMISSIONS, READ_PERMISSIONS } from '#shared/identity/rbac.ts';
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

function permissionsOf(result: ApiKeyAuthResult) {
  if (!result.ok) throw new Error(`expected an accepted key, got ${result.reason}`);
  return result.principal.permissions;
}

describe('scopes', () => {
  it('grants exactly the requested scopes, in canonical order and without duplicates', async () => {
    const owner = await f.makeUser('user');
    const { key, apiKey } = await f.service.create({
      userId: owner.id,
      name: 'Reader',
      scopes: ['sessions:read', 'profile:read', 'profile:read'],
      source: 'api',
    });
    expect(apiKey.scopes).toEqual(['profile:read', 'sessions:read']);
    const result = await f.service.authenticate(key, '198.51.100.7');
    expect(result).toMatchObject({ ok: true, principal: { kind: 'api_key', userId: owner.id, keyId: apiKey.id } });
    expect(permissionsOf(result)).toEqual(['profile:read', 'sessions:read']);
  });

  it('defaults to the owner’s non-admin permissions (an admin must ask for admin scopes by name)', async () => {
    const admin = await f.makeUser('admin');
    const { apiKey } = await f.service.create({ userId: admin.id, name: 'Default', source: 'api' });
    expect(apiKey.scopes).toEqual(defaultScopes('admin'));
    expect(apiKey.scopes.some((scope) => scope.startsWith('admin:'))).toBe(false);
    const explicit = await f.service.create({
      userId: admin.id,
      name: 'Audit reader',
      scopes: ['admin:audit:read'],
      source: 'api',
    });
    expect(explicit.apiKey.scopes).toEqual(['admin:audit:read']);
  });

  it('refuses a scope the owner’s role lacks (403, naming the scope), an unknown scope and no scopes', async () => {
    const reader = await f.makeUser('readonly');
    await expect(
      f.service.create({ userId: reader.id, name: 'Writer', scopes: ['profile:read', 'profile:write'], source: 'api' }),
    ).rejects.toMatchObject({ code: 'API_KEY_SCOPE_NOT_ALLOWED', status: 403, details: { scope: 'profile:write' } });
    const user = await f.makeUser('user');
    await expect(
      f.service.create({ userId: user.id, name: 'Admin', scopes: ['admin:users:write'], source: 'api' }),
    ).rejects.toMatchObject({ code: 'API_KEY_SCOPE_NOT_ALLOWED', status: 403 });
    await expect(
      f.service.create({ userId: user.id, name: 'Odd', scopes: ['root'], source: 'api' }),
    ).rejects.toMatchObject({ code: 'API_KEY_SCOPE_UNKNOWN', status: 400 });
    await expect(f.service.create({ userId: user.id, name: 'None', scopes: [], source: 'api' })).rejects.toMatchObject({
      code: 'API_KEY_SCOPES_EMPTY',
      status: 400,
    });
    expect(await f.service.list(user.id)).toEqual([]);
  });

  it('shrinks a key when its owner is demoted, and restores it when they are promoted again', async () => {
    const owner = await f.makeUser('admin');
    const { key, apiKey } = await f.service.create({
      userId: owner.id,
      name: 'Ops',
      scopes: ['profile:read', 'profile:write', 'admin:users:read'],
      source: 'api',
    });
    expect(permissionsOf(await f.service.authenticate(key, '198.51.100.7'))).toEqual(apiKey.scopes);

    await f.database.db.update(users).set({ role: 'readonly' }).where(eq(users.id, owner.id));
    const demoted = await f.service.authenticate(key, '198.51.100.7');
    expect(permissionsOf(demoted)).toEqual(['profile:read']);
    expect(demoted).toMatchObject({ principal: { role: 'readonly' } });
    const [view] = await f.service.list(owner.id);
    expect(view?.scopes).toEqual(['profile:read', 'profile:write', 'admin:users:read']);
    expect(view?.effectiveScopes).toEqual(['profile:read']);

    await f.database.db.update(users).set({ role: 'admin' }).where(eq(users.id, owner.id));
    expect(permissionsOf(await f.service.authenticate(key, '198.51.100.7'))).toEqual(apiKey.scopes);
  });

  it('never gives a read-only key a write permission', async () => {
    const owner = await f.makeUser('user');
    const readScopes = READ_PERMISSIONS.filter((permission) => !permission.startsWith('admin:'));
    const { key } = await f.service.create({ userId: owner.id, name: 'RO', scopes: readScopes, source: 'api' });
    const granted = permissionsOf(await f.service.authenticate(key, '198.51.100.7'));
    expect(granted.every((permission) => permission.endsWith(':read'))).toBe(true);
    expect(PERMISSIONS.filter((permission) => permission.endsWith(':write') && granted.includes(permission))).toEqual(
      [],
    );
  });

  it('stops a blocked person’s keys, and lets no blocked person create one', async () => {
    const owner = await f.makeUser('user');
    const { key } = await f.service.create({ userId: owner.id, name: 'Bot', source: 'api' });
    await f.database.db.update(users).set({ status: 'blocked' }).where(eq(users.id, owner.id));
    await expect(f.service.authenticate(key, '198.51.100.7')).resolves.toEqual({
      ok: false,
      reason: 'API_KEY_OWNER_INACTIVE',
    });
    await expect(f.service.create({ userId: owner.id, name: 'Another', source: 'api' })).rejects.toMatchObject({
      code: 'API_KEY_OWNER_INACTIVE',
      status: 403,
    });
  });

  it('lets no API key create or rotate keys (only a signed-in person can)', async () => {
    const owner = await f.makeUser('user');
    const { apiKey } = await f.service.create({ userId: owner.id, name: 'Automation', source: 'api' });
    const asKey = { type: 'api_key' as const, keyId: apiKey.id };
    await expect(
      f.service.create({ userId: owner.id, name: 'Child', actor: asKey, source: 'api' }),
    ).rejects.toMatchObject({ code: 'API_KEY_CANNOT_MANAGE_KEYS', status: 403 });
    await expect(
      f.service.rotate({ userId: owner.id, keyId: apiKey.id, actor: asKey, source: 'api' }),
    ).rejects.toMatchObject({ code: 'API_KEY_CANNOT_MANAGE_KEYS', status: 403 });
    expect(await f.service.list(owner.id)).toHaveLength(1);
  });
});
