/**
 * A key is a password for scripts: it must be shown to its owner exactly once, when it is made, and never
 * again through any listing, lookup, revocation, audit entry or notification, where it could be read later by
 * whoever gets at a screen, a log or the queue.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '#shared/audit/index.ts';
import { sha256Hex } from '#shared/crypto/hash.ts';
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

const VIEW_FIELDS = [
  'createdAt',
  'displayPrefix',
  'effectiveScopes',
  'expiresAt',
  'id',
  'lastUsedAt',
  'lastUsedIp',
  'name',
  'rateLimitPerMinute',
  'replacedById',
  'revokedAt',
  'scopes',
  'status',
];

describe('shown once', () => {
  it('returns the key from create and rotate only; views, audit entries and notifications never carry it', async () => {
    const owner = await f.makeUser();
    const entries: AuditRecord[] = [];
    const unsubscribe = f.audit.subscribe((entry) => {
      entries.push(entry);
    });
    const created = await f.service.create({ userId: owner.id, name: 'Deploy', source: 'api' });
    expect(created.key).toMatch(/^tsp_[0-9A-Za-z]{36}$/);
    expect(Object.keys(created.apiKey).sort()).toEqual(VIEW_FIELDS);

    const rotated = await f.service.rotate({ userId: owner.id, keyId: created.apiKey.id, source: 'api' });
    expect(rotated.key).not.toBe(created.key);
    const listed = await f.service.list(owner.id);
    const fetched = await f.service.get(owner.id, rotated.apiKey.id);
    const revoked = await f.service.revoke({ userId: owner.id, keyId: rotated.previous.id, source: 'api' });
    unsubscribe();

    expect(listed).toHaveLength(2);
    for (const view of [...listed, fetched, revoked, rotated.apiKey, rotated.previous]) {
      expect(Object.keys(view ?? {}).sort()).toEqual(VIEW_FIELDS);
    }
    const everythingShownLater = JSON.stringify({ listed, fetched, revoked, entries, notifications: f.notifications });
    for (const secret of [created.key, rotated.key]) {
      expect(everythingShownLater).not.toContain(secret);
      expect(everythingShownLater).not.toContain(secret.slice(4, 34));
      expect(everythingShownLater).not.toContain(sha256Hex(secret));
    }
    // The notification jobs carry ids only.
    for (const job of f.notifications) expect(Object.keys(job).sort()).toEqual(['keyId', 'kind', 'userId']);
  });

  it('cannot recover a key later: a lookup by id gives the display prefix only', async () => {
    const owner = await f.makeUser();
    const { key, apiKey } = await f.service.create({ userId: owner.id, name: 'Deploy', source: 'bot' });
    const again = await f.service.get(owner.id, apiKey.id);
    expect(again?.displayPrefix).toBe(`${key.slice(0, 8)}…${key.slice(-4)}`);
    expect(JSON.stringify(again)).not.toContain(key.slice(8, -4));
  });
});
