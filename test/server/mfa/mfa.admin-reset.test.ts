/**
 * Threat: account recovery is the usual way around a second factor: an impostor convinces an admin that they
 * lost their phone. An admin reset therefore needs the admin's own step-up, is audited, tells the person at
 * once and takes effect only 24 hours later, so the real owner can cancel it (API or bot button). A
 * cancelled reset never applies; a due one is completed by the `mfa` queue's worker (delayed job, with a
 * periodic sweep as the fallback).
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NotifyJob } from '#server/notify.ts';
import { type RunningWorkers, startWorkers } from '#server/workers/index.ts';
import { mfaProcessor } from '#server/workers/mfa.worker.ts';
import { deriveAuditSigningKey } from '#shared/audit/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { mfaResets } from '#shared/db/schema-mfa.ts';
import { createLogger } from '#shared/logger.ts';
import { MFA_RESET_DELAY_SECONDS } from '#shared/mfa/index.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { bearer, type SignedIn, signInAs } from '#test/helpers/sign-in.ts';
import { advanceSeconds, codeNow, enrolViaApi, nextStep, useTestClock } from './mfa-helpers.ts';

let t: TestApp;
beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN, RATE_LIMITS: 'auth=10000/60,api=10000/60' } });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

/** An admin with MFA who has just stepped up (their access token carries the fresh factor). */
async function steppedUpAdmin(): Promise<SignedIn> {
  const admin = await signInAs(t, 'admin');
  const { secret } = await enrolViaApi(t.app, admin);
  const stepUp = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/step-up',
    headers: bearer(admin.accessToken),
    payload: { code: await codeNow(secret) },
  });
  expect(stepUp.statusCode).toBe(200);
  nextStep();
  return { ...admin, accessToken: (stepUp.json() as { accessToken: string }).accessToken };
}

const requestReset = (admin: SignedIn, userId: string) =>
  t.app.inject({ method: 'POST', url: `/api/v1/admin/users/${userId}/mfa-reset`, headers: bearer(admin.accessToken) });

async function notices(userId: string): Promise<NotifyJob[]> {
  const jobs = await t.queues.notify.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
  return jobs.map((job) => job.data).filter((data) => data.userId === userId);
}

describe('admin MFA reset', () => {
  it('needs the admin permission and the admin’s fresh step-up', async () => {
    const target = await signInAs(t, 'user');
    await enrolViaApi(t.app, target);
    const user = await signInAs(t, 'user');
    expect((await requestReset(user, target.userId)).statusCode).toBe(403);
    const admin = await signInAs(t, 'admin'); // no step-up (and no MFA at all)
    const response = await requestReset(admin, target.userId);
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'STEP_UP_REQUIRED' } });
  });

  it('waits 24 hours, tells the person, is audited, and the person can cancel it', async () => {
    const admin = await steppedUpAdmin();
    const target = await signInAs(t, 'user');
    const { secret } = await enrolViaApi(t.app, target);
    const response = await requestReset(admin, target.userId);
    expect(response.statusCode).toBe(202);
    const { effectiveAt } = response.json() as { effectiveAt: string };
    expect(Math.abs(Date.parse(effectiveAt) - (Date.now() + MFA_RESET_DELAY_SECONDS * 1000))).toBeLessThan(5_000);
    // Asking again does not restart the clock.
    expect((await requestReset(admin, target.userId)).json()).toEqual({ effectiveAt });

    const status = await t.app.inject({ method: 'GET', url: '/api/v1/mfa', headers: bearer(target.accessToken) });
    expect(status.json()).toMatchObject({ enabled: true, pendingReset: { effectiveAt } });
    expect((await notices(target.userId)).map((notice) => notice.kind)).toContain('mfa-reset-requested');
    const [audited] = await t.database.db.select().from(auditLog).where(eq(auditLog.action, 'mfa.reset_request'));
    expect(audited).toMatchObject({ actorId: admin.userId, subjectUserId: target.userId, result: 'success' });

    // The delayed job that completes it is scheduled for the due time.
    const [reset] = await t.database.db.select().from(mfaResets).where(eq(mfaResets.userId, target.userId));
    const job = await t.queues.mfa.getJob(`mfa-reset-${reset?.id}`);
    expect(job?.data).toEqual({ kind: 'reset-due', resetId: reset?.id });
    expect(job?.opts.delay).toBeGreaterThan((MFA_RESET_DELAY_SECONDS - 60) * 1000);

    const cancel = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/mfa/reset',
      headers: bearer(target.accessToken),
    });
    expect(cancel.statusCode).toBe(204);
    expect((await notices(target.userId)).map((notice) => notice.kind)).toContain('mfa-reset-cancelled');
    const again = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/mfa/reset',
      headers: bearer(target.accessToken),
    });
    expect(again.statusCode).toBe(404);

    // The due time passes: a cancelled reset never applies.
    advanceSeconds(MFA_RESET_DELAY_SECONDS + 60);
    const processor = mfaProcessor({ mfa: t.services.mfa });
    await processor({ data: { kind: 'reset-due', resetId: reset?.id ?? '' } } as Parameters<typeof processor>[0]);
    expect(await t.services.mfa.isEnrolled(target.userId)).toBe(true);
    nextStep();
    expect(await t.services.mfa.verify(target.userId, await codeNow(secret), 'api')).toBe('ok');
  });

  it('does nothing before it is due, and the worker completes it after (audited, person told)', async () => {
    const admin = await steppedUpAdmin();
    const target = await signInAs(t, 'user');
    await enrolViaApi(t.app, target);
    expect((await requestReset(admin, target.userId)).statusCode).toBe(202);
    expect(await t.services.mfa.processDueResets()).toBe(0);
    advanceSeconds(MFA_RESET_DELAY_SECONDS - 120);
    expect(await t.services.mfa.processDueResets()).toBe(0);
    expect(await t.services.mfa.isEnrolled(target.userId)).toBe(true);

    advanceSeconds(180);
    // The real worker: the sweep job (the same processor as the delayed job) completes what is due.
    const workers: RunningWorkers = await startWorkers({
      database: t.database,
      crypto: { ring: t.ring, userKeys: t.userKeys },
      audit: { signingKey: deriveAuditSigningKey(t.secrets.masterKey) },
      mfa: t.services.mfa,
      logger: createLogger({ level: 'silent' }),
      connection: () => t.redis.createBullConnection(),
      redisPrefix: t.redisPrefix,
    });
    try {
      await t.queues.mfa.add('reset-sweep', { kind: 'reset-sweep' });
      await vi.waitFor(async () => expect(await t.services.mfa.isEnrolled(target.userId)).toBe(false), {
        timeout: 15_000,
        interval: 100,
      });
    } finally {
      await workers.close();
    }
    expect(await t.services.mfa.status(target.userId)).toMatchObject({ enabled: false, pendingReset: null });
    expect((await notices(target.userId)).map((notice) => notice.kind)).toContain('mfa-reset-completed');
    const completed = await t.database.db.select().from(auditLog).where(eq(auditLog.action, 'mfa.reset_complete'));
    expect(completed.some((row) => row.subjectUserId === target.userId)).toBe(true);
  });

  it('refuses a person without MFA (nothing to reset) and an unknown person', async () => {
    const admin = await steppedUpAdmin();
    const plain = await signInAs(t, 'user');
    const none = await requestReset(admin, plain.userId);
    expect(none.statusCode).toBe(409);
    expect(none.json()).toMatchObject({ error: { code: 'MFA_NOT_ENROLLED' } });
    const unknown = await requestReset(admin, '00000000-0000-4000-8000-000000000000');
    expect(unknown.statusCode).toBe(404);
  });
});
