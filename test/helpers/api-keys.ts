/**
 * API-key test fixture: the real service on a real database (PGlite or the PostgreSQL server), real Redis
 * under a per-file prefix and the real audit trail, with a clock the test moves and a recording `notify`
 * (our stand-in for the notify queue, at the boundary the service is given).
 */

import { eq } from 'drizzle-orm';
import { type ApiKeyNotification, type ApiKeyService, createApiKeyService } from '#shared/api-keys/index.ts';
import { type AuditLog, createAuditLog } from '#shared/audit/index.ts';
import { type User, type UserRole, users } from '#shared/db/schema.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { createTestDatabase, type TestDatabase } from './test-db.ts';
import { createTestRedis, type TestRedis } from './test-redis.ts';

/** A fixed starting time, so expiry and window arithmetic in tests is exact. */
export const API_KEY_TEST_EPOCH_MS = Date.parse('2026-06-01T12:00:10.000Z');

export interface ApiKeyFixture {
  database: TestDatabase;
  redis: TestRedis;
  audit: AuditLog;
  service: ApiKeyService;
  /** Jobs the service asked to send, in order. */
  notifications: ApiKeyNotification[];
  clock: { nowMs: number; advance(ms: number): void; set(ms: number): void };
  /** A person with this role (and status). */
  makeUser(role?: UserRole, status?: User['status']): Promise<User>;
  /** Empties the database and the recorded notifications, and resets the clock. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

let telegramIds = 7_000_000;

export async function createApiKeyFixture(options: { rotationGraceSeconds?: number } = {}): Promise<ApiKeyFixture> {
  const [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  const audit = createAuditLog({ db: database.db });
  const notifications: ApiKeyNotification[] = [];
  const clock = {
    nowMs: API_KEY_TEST_EPOCH_MS,
    advance(ms: number) {
      clock.nowMs += ms;
    },
    set(ms: number) {
      clock.nowMs = ms;
    },
  };
  const service = createApiKeyService({
    db: database.db,
    redis: redis.client,
    prefix: redis.prefix,
    audit,
    notify: async (job) => {
      notifications.push(job);
    },
    now: () => new Date(clock.nowMs),
    ...(options.rotationGraceSeconds !== undefined ? { rotationGraceSeconds: options.rotationGraceSeconds } : {}),
  });
  return {
    database,
    redis,
    audit,
    service,
    notifications,
    clock,
    async makeUser(role = 'user', status = 'active') {
      const { user } = await upsertTelegramUser(database.db, { telegramId: ++telegramIds, adminTelegramIds: [] });
      await database.db.update(users).set({ role, status }).where(eq(users.id, user.id));
      return { ...user, role, status };
    },
    async reset() {
      await database.truncate();
      notifications.length = 0;
      clock.set(API_KEY_TEST_EPOCH_MS);
    },
    async close() {
      await Promise.all([database.close(), redis.close()]);
    },
  };
}
