/**
 * Creating, rotating and revoking a key changes who can act for a person: each must leave an entry in the
 * tamper-evident audit trail (who, which key, from which network, never the key) and tell the owner in
 * Telegram, so a key made by someone who took over a session does not go unnoticed.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiKeyService } from '#shared/api-keys/index.ts';
import { auditLog } from '#shared/db/schema.ts';
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

describe('audit and notification', () => {
  it('records create, rotate and revoke with the owner as actor and the key as target, and tells the owner', async () => {
    const owner = await f.makeUser();
    const context = { source: 'api' as const, requestId: 'req-42', ip: '203.0.113.77' };
    const created = await f.service.create({ userId: owner.id, name: 'CI', ...context });
    const rotated = await f.service.rotate({ userId: owner.id, keyId: created.apiKey.id, ...context });
    await f.service.revoke({ userId: owner.id, keyId: rotated.apiKey.id, source: 'bot' });

    const entries = await f.database.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.subjectUserId, owner.id))
      .orderBy(auditLog.seq);
    expect(
      entries.map((entry) => ({
        action: entry.action,
        actor: `${entry.actorType}:${entry.actorId}`,
        target: `${entry.targetType}:${entry.targetId}`,
        source: entry.source,
        result: entry.result,
        ipPrefix: entry.ipPrefix,
        requestId: entry.requestId,
        details: entry.details,
      })),
    ).toEqual([
      {
        action: 'api_key.created',
        actor: `user:${owner.id}`,
        target: `api_key:${created.apiKey.id}`,
        source: 'api',
        result: 'success',
        ipPrefix: '203.0.113.0/24',
        requestId: 'req-42',
        details: null,
      },
      {
        action: 'api_key.rotated',
        actor: `user:${owner.id}`,
        target: `api_key:${created.apiKey.id}`,
        source: 'api',
        result: 'success',
        ipPrefix: '203.0.113.0/24',
        requestId: 'req-42',
        details: null,
      },
      {
        action: 'api_key.created',
        actor: `user:${owner.id}`,
        target: `api_key:${rotated.apiKey.id}`,
        source: 'api',
        result: 'success',
        ipPrefix: '203.0.113.0/24',
        requestId: 'req-42',
        details: null,
      },
      {
        action: 'api_key.revoked',
        actor: `user:${owner.id}`,
        target: `api_key:${rotated.apiKey.id}`,
        source: 'bot',
        result: 'success',
        ipPrefix: null,
        requestId: null,
        details: null,
      },
    ]);

    expect(f.notifications).toEqual([
      { kind: 'api-key-created', userId: owner.id, keyId: created.apiKey.id },
      { kind: 'api-key-rotated', userId: owner.id, keyId: rotated.apiKey.id },
      { kind: 'api-key-revoked', userId: owner.id, keyId: rotated.apiKey.id },
    ]);
  });

  it('records nothing and tells nobody when the change is refused', async () => {
    const owner = await f.makeUser('readonly');
    await expect(
      f.service.create({ userId: owner.id, name: 'Nope', scopes: ['profile:write'], source: 'api' }),
    ).rejects.toMatchObject({ code: 'API_KEY_SCOPE_NOT_ALLOWED' });
    expect(await f.database.db.select().from(auditLog)).toEqual([]);
    expect(f.notifications).toEqual([]);
  });

  it('keeps the key when the notification cannot be queued (the change is already audited)', async () => {
    const warnings: string[] = [];
    const failing = createApiKeyService({
      db: f.database.db,
      redis: f.redis.client,
      prefix: f.redis.prefix,
      audit: f.audit,
      notify: async () => {
        throw new Error('queue unavailable');
      },
      logger: { warn: (_fields: unknown, message?: string) => void warnings.push(String(message)) },
    });
    const owner = await f.makeUser();
    const { key } = await failing.create({ userId: owner.id, name: 'Still here', source: 'api' });
    expect((await failing.authenticate(key, '198.51.100.7')).ok).toBe(true);
    expect(warnings).toEqual(['API key notification could not be queued']);
  });
});
