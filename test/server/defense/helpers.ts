/** Shared steps of the intrusion-detection tests: requests from a chosen address, waiting for pub/sub. */
import { randomBytes } from 'node:crypto';
import type { TestApp } from '#test/helpers/build-test-app.ts';
import { type InitDataUser, signedInitData } from '#test/helpers/init-data.ts';

/** Polls until `check` holds (pub/sub delivery takes a few milliseconds). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A fresh initData for `user` (its own query id, so it is not a replay). */
export function freshInitData(user: InitDataUser): string {
  return signedInitData({ user, queryId: `AAH${randomBytes(12).toString('base64url')}` });
}

/** POST /api/v1/auth/telegram from `ip`. */
export function telegramSignIn(t: TestApp, initData: string, ip: string) {
  return t.app.inject({ method: 'POST', url: '/api/v1/auth/telegram', remoteAddress: ip, payload: { initData } });
}

/** Jobs waiting on the notify queue (no worker runs in these tests), by kind. */
export async function noticesOf(t: TestApp, kind: string) {
  const jobs = await t.queues.notify.getJobs(['waiting', 'delayed', 'prioritized']);
  return jobs.filter((job) => job.data.kind === kind).map((job) => job.data as Record<string, unknown>);
}
