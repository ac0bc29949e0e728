/**
 * Data subject requests have a legal deadline (GDPR Art. 12(3)): one month, extendable once or twice by a month
 * with a reason, never beyond three months in all; near-due and overdue requests must surface for admins.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  addMonths,
  createRequest,
  extendRequest,
  requestQueue,
  requestsNeedingAttention,
} from '#shared/privacy/index.ts';
import { createTestDatabase, type TestDatabase } from '#test/helpers/test-db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database.close());
beforeEach(async () => database.truncate());

describe('request deadlines', () => {
  it('adds calendar months, clamped to the month’s end', () => {
    expect(addMonths(new Date('2026-01-31T10:00:00Z'), 1).toISOString()).toBe('2026-02-28T10:00:00.000Z');
    expect(addMonths(new Date('2028-01-31T10:00:00Z'), 1).toISOString()).toBe('2028-02-29T10:00:00.000Z');
    expect(addMonths(new Date('2026-11-15T00:00:00Z'), 2).toISOString()).toBe('2027-01-15T00:00:00.000Z');
  });

  it('is due one month after receipt and extends by at most two months with a reason', async () => {
    const received = new Date('2026-03-10T09:00:00Z');
    const request = await createRequest(database.db, {
      userId: randomUUID(),
      kind: 'access',
      status: 'pending',
      now: received,
    });
    expect(request.dueAt.toISOString()).toBe('2026-04-10T09:00:00.000Z');
    const once = await extendRequest(database.db, {
      requestId: request.id,
      months: 1,
      reason: 'Large history to assemble',
    });
    expect(once.extendedUntil?.toISOString()).toBe('2026-05-10T09:00:00.000Z');
    await expect(
      extendRequest(database.db, { requestId: request.id, months: 1, reason: 'Again the same length' }),
    ).rejects.toMatchObject({ code: 'EXTENSION_NOT_ALLOWED' });
    const twice = await extendRequest(database.db, {
      requestId: request.id,
      months: 2,
      reason: 'Needs a second month',
    });
    expect(twice.extendedUntil?.toISOString()).toBe('2026-06-10T09:00:00.000Z');
    await expect(
      extendRequest(database.db, { requestId: request.id, months: 3, reason: 'Three months is too long' }),
    ).rejects.toMatchObject({ code: 'EXTENSION_NOT_ALLOWED' });
  });

  it('refuses to extend a closed request', async () => {
    const request = await createRequest(database.db, {
      userId: randomUUID(),
      kind: 'rectification',
      status: 'completed',
    });
    await expect(
      extendRequest(database.db, { requestId: request.id, months: 1, reason: 'Not needed at all' }),
    ).rejects.toMatchObject({ code: 'EXTENSION_NOT_ALLOWED' });
  });

  it('lists overdue and near-due open requests, most urgent first', async () => {
    const now = new Date('2026-06-15T00:00:00Z');
    const overdue = await createRequest(database.db, {
      userId: randomUUID(),
      kind: 'access',
      status: 'pending',
      now: new Date('2026-05-01T00:00:00Z'),
    });
    const near = await createRequest(database.db, {
      userId: randomUUID(),
      kind: 'access',
      status: 'processing',
      now: new Date('2026-05-17T00:00:00Z'),
    });
    const later = await createRequest(database.db, {
      userId: randomUUID(),
      kind: 'access',
      status: 'pending',
      now: new Date('2026-06-10T00:00:00Z'),
    });
    const extended = await createRequest(database.db, {
      userId: randomUUID(),
      kind: 'access',
      status: 'pending',
      now: new Date('2026-05-02T00:00:00Z'),
    });
    await extendRequest(database.db, { requestId: extended.id, months: 1, reason: 'Extension for volume' });
    await createRequest(database.db, {
      userId: randomUUID(),
      kind: 'access',
      status: 'completed',
      now: new Date('2026-04-01T00:00:00Z'),
    });
    const attention = await requestsNeedingAttention(database.db, now);
    expect(attention.overdue.map((r) => r.id)).toEqual([overdue.id]);
    expect(attention.nearDue.map((r) => r.id)).toEqual([near.id]);
    expect((await requestQueue(database.db)).map((r) => r.id)).toEqual([overdue.id, near.id, extended.id, later.id]);
  });
});
