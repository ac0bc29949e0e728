/**
 * Threat: one stolen admin account (or one rogue admin) makes another account an admin, alone and unseen.
 * In the bot, "make admin" is only a request: it is announced to every admin in Telegram with Approve and
 * Reject buttons; the admin who asked cannot approve it; a different admin approves through a confirmation
 * whose button works once and only for them; the change is announced to every admin and to the person; every
 * step, refusals and expiry included, is audited with its actor. Announcements are rendered and sent by the real
 * notify worker, so the captured Bot API calls are what admins would see.
 */
import type { Job } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NotifyJob } from '#server/notify.ts';
import type { NotifyJobResult } from '#server/queues.ts';
import { notifyProcessor } from '#server/workers/notify.worker.ts';
import { users } from '#shared/db/schema.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { roleGrants } from '#shared/db/schema-role-grants.ts';
import { callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { useTestClock } from '../server/mfa/mfa-helpers.ts';
import { adminBot, answers, dataOf, notifyJobs, type Person, person, texts } from './admin.fixtures.ts';

let t: TestApp;

beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
beforeEach(async () => {
  // "Every admin" means this test's admins.
  await t.database.db.update(users).set({ role: 'user' }).where(eq(users.role, 'admin'));
  await t.queues.notify.obliterate({ force: true });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

/** Runs every queued notice through the real notify worker, sending through the recorder's fake Telegram. */
async function deliverNotices(recorder: TestBot): Promise<void> {
  const process = notifyProcessor({
    db: t.database.db,
    botToken: TEST_BOT_TOKEN,
    apiRoot: 'https://api.telegram.invalid',
    fetch: recorder.fetch,
  });
  for (const data of await notifyJobs(t)) await process({ data } as Job<NotifyJob, NotifyJobResult>);
  await t.queues.notify.obliterate({ force: true });
}

/** Messages sent to one person's private chat. */
const sentTo = (recorder: TestBot, who: Person) =>
  recorder.callsOf('sendMessage').filter((call) => Number(call.payload.chat_id) === who.user.id);

function buttonData(call: { payload: Record<string, unknown> } | undefined, label: string): string {
  const markup = call?.payload.reply_markup as { inline_keyboard?: { text: string; callback_data?: string }[][] };
  const found = (markup?.inline_keyboard ?? []).flat().find((button) => button.text.includes(label));
  return found?.callback_data ?? '';
}

const roleOf = async (who: Person) =>
  (await t.database.db.select({ role: users.role }).from(users).where(eq(users.id, who.userId)))[0]?.role;

async function audit(action: string, grantId: string) {
  return t.database.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.targetId, grantId)));
}

/** Admin `a` asks, through the menu, for `target` to be made an admin. Returns the request's id. */
async function requestThroughMenu(recorder: TestBot, a: Person, target: Person): Promise<string> {
  await recorder.handle(callbackQuery(`adm:ud:${target.userId}`, a.user));
  await recorder.handle(callbackQuery(dataOf(recorder, 'Make admin', 'editMessageText'), a.user));
  expect(texts(recorder, 'editMessageText').at(-1)).toContain('Another admin must approve');
  const confirm = dataOf(recorder, 'Confirm', 'editMessageText');
  expect(confirm).toMatch(new RegExp(`^adm:cp:${target.userId}:[A-Za-z0-9_-]{12}$`));
  await recorder.handle(callbackQuery(confirm, a.user));
  expect(texts(recorder, 'editMessageText').at(-1)).toContain('sent to every admin');
  const [grant] = await t.database.db
    .select()
    .from(roleGrants)
    .where(and(eq(roleGrants.targetUserId, target.userId), eq(roleGrants.status, 'pending')));
  expect(grant).toBeDefined();
  return grant?.id ?? '';
}

describe('making someone an admin in the bot', () => {
  it('asks, announces to every admin, refuses the asker, and a second admin approves exactly once', async () => {
    const recorder = adminBot(t);
    const a = await person(t, 'admin');
    const b = await person(t, 'admin');
    const target = await person(t, 'user');

    const grantId = await requestThroughMenu(recorder, a, target);
    expect(await roleOf(target)).toBe('user');
    const [requested] = await audit('admin.role_grant_requested', grantId);
    expect(requested).toMatchObject({ actorId: a.userId, subjectUserId: target.userId, source: 'bot' });

    // Announced to both admins (and nobody else), with Approve and Reject buttons.
    await deliverNotices(recorder);
    for (const admin of [a, b]) {
      const [notice] = sentTo(recorder, admin);
      expect(notice?.payload.text).toContain(`Admin request ${grantId.slice(0, 8)}`);
      expect(buttonData(notice, 'Approve')).toBe(`adm:ga:${grantId}`);
      expect(buttonData(notice, 'Reject')).toBe(`adm:gr:${grantId}`);
    }
    expect(sentTo(recorder, target)).toEqual([]);

    // The admin who asked cannot approve: no confirmation is even offered, and the attempt is audited.
    const sentBefore = recorder.callsOf('sendMessage').length;
    await recorder.handle(callbackQuery(`adm:ga:${grantId}`, a.user));
    expect(answers(recorder).at(-1)).toContain('another admin has to approve');
    expect(recorder.callsOf('sendMessage')).toHaveLength(sentBefore);
    const [selfApproval] = await audit('admin.role_grant_approved', grantId);
    expect(selfApproval).toMatchObject({ actorId: a.userId, result: 'denied', reasonCode: 'SELF_APPROVAL' });

    // The second admin gets a confirmation with a single-use button bound to them.
    await recorder.handle(callbackQuery(`adm:ga:${grantId}`, b.user));
    expect(texts(recorder).at(-1)).toContain(`Approve making user <code>${target.userId.slice(0, 8)}</code>`);
    const confirm = dataOf(recorder, 'Confirm');
    expect(confirm).toMatch(new RegExp(`^adm:cga:${grantId}:[A-Za-z0-9_-]{12}$`));
    // The asker replaying the second admin's button (forwarded, or seen over a shoulder): refused.
    await recorder.handle(callbackQuery(confirm, a.user));
    expect(answers(recorder).at(-1)).toBe('This button is no longer active.');
    expect(await roleOf(target)).toBe('user');

    await recorder.handle(callbackQuery(confirm, b.user));
    expect(await roleOf(target)).toBe('admin');
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('is now an admin');
    const approvals = await audit('admin.role_grant_approved', grantId);
    expect(approvals.filter((row) => row.result === 'success')).toEqual([
      expect.objectContaining({ actorId: b.userId, reasonCode: 'TWO_PERSON_APPROVED', source: 'bot' }),
    ]);
    const [change] = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'admin.role_change'), eq(auditLog.subjectUserId, target.userId)));
    expect(change).toMatchObject({ actorId: b.userId, reasonCode: 'ROLE_GRANTED_ADMIN' });

    // Announced: both admins and the new admin hear the outcome; the person is told their new role.
    const jobs = await notifyJobs(t);
    expect(jobs).toEqual(
      expect.arrayContaining([
        { kind: 'role-grant-decided', userId: a.userId, grantId },
        { kind: 'role-grant-decided', userId: b.userId, grantId },
        { kind: 'role-grant-decided', userId: target.userId, grantId },
        { kind: 'role-changed', userId: target.userId, role: 'admin' },
      ]),
    );
    await deliverNotices(recorder);
    expect(sentTo(recorder, a).at(-1)?.payload.text).toContain(`approved by ${b.userId.slice(0, 8)}`);
    expect(sentTo(recorder, target).map((call) => String(call.payload.text))).toEqual(
      expect.arrayContaining([expect.stringContaining('Your role is now: admin')]),
    );

    // The approve button replayed: refused by its nonce, nothing approved twice.
    await recorder.handle(callbackQuery(confirm, b.user));
    expect(answers(recorder).at(-1)).toBe('This button is no longer active.');
    expect((await audit('admin.role_grant_approved', grantId)).filter((row) => row.result === 'success')).toHaveLength(
      1,
    );
    // And the announcement's Approve button now says it is decided.
    await recorder.handle(callbackQuery(`adm:ga:${grantId}`, b.user));
    expect(answers(recorder).at(-1)).toContain('already decided or has expired');
  });

  it('a rejected request cannot be approved, and the rejection is audited and announced', async () => {
    const recorder = adminBot(t);
    const a = await person(t, 'admin');
    const b = await person(t, 'admin');
    const target = await person(t, 'user');
    const grantId = await requestThroughMenu(recorder, a, target);
    await t.queues.notify.obliterate({ force: true });

    await recorder.handle(callbackQuery(`adm:gr:${grantId}`, b.user));
    await recorder.handle(callbackQuery(dataOf(recorder, 'Confirm'), b.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('Rejected');
    const [rejected] = await audit('admin.role_grant_rejected', grantId);
    expect(rejected).toMatchObject({ actorId: b.userId, result: 'success', reasonCode: 'REJECTED' });
    expect(await notifyJobs(t)).toContainEqual({ kind: 'role-grant-decided', userId: a.userId, grantId });

    await recorder.handle(callbackQuery(`adm:ga:${grantId}`, b.user));
    expect(answers(recorder).at(-1)).toContain('already decided or has expired');
    expect(await roleOf(target)).toBe('user');
  });

  it('expires after 24 hours: marked, audited and announced, and can no longer be approved', async () => {
    const recorder = adminBot(t);
    const a = await person(t, 'admin');
    const b = await person(t, 'admin');
    const target = await person(t, 'user');
    const grantId = await requestThroughMenu(recorder, a, target);
    await t.queues.notify.obliterate({ force: true });
    const [row] = await t.database.db.select().from(roleGrants).where(eq(roleGrants.id, grantId));
    expect((row?.expiresAt.getTime() ?? 0) - (row?.createdAt.getTime() ?? 0)).toBe(24 * 3600 * 1000);
    await t.database.db
      .update(roleGrants)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(roleGrants.id, grantId));

    await recorder.handle(callbackQuery(`adm:ga:${grantId}`, b.user));
    expect(answers(recorder).at(-1)).toContain('already decided or has expired');
    const [expired] = await audit('admin.role_grant_expired', grantId);
    expect(expired).toMatchObject({ actorType: 'system', result: 'success', reasonCode: 'EXPIRED' });
    expect(await notifyJobs(t)).toContainEqual({ kind: 'role-grant-decided', userId: b.userId, grantId });
    await deliverNotices(recorder);
    expect(sentTo(recorder, a).at(-1)?.payload.text).toContain('expired without approval');
    expect(await roleOf(target)).toBe('user');

    // The admin requests section lists nothing waiting.
    await recorder.handle(textMessage('/admin', b.user));
    await recorder.handle(callbackQuery(dataOf(recorder, 'Admin requests'), b.user));
    expect(texts(recorder).at(-1)).toContain('No admin requests waiting');
  });

  it('lists waiting requests in the menu with approve and reject buttons', async () => {
    const recorder = adminBot(t);
    const a = await person(t, 'admin');
    const b = await person(t, 'admin');
    const target = await person(t, 'user');
    const grantId = await requestThroughMenu(recorder, a, target);
    await recorder.handle(callbackQuery('adm:g', b.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('Admin requests waiting</b> (1)');
    expect(dataOf(recorder, 'Approve 1', 'editMessageText')).toBe(`adm:ga:${grantId}`);
    expect(dataOf(recorder, 'Reject 1', 'editMessageText')).toBe(`adm:gr:${grantId}`);
  });

  it('with a single admin nothing can be approved (ADMIN_TELEGRAM_IDS stays the way to add admins there)', async () => {
    const recorder = adminBot(t);
    const a = await person(t, 'admin');
    const target = await person(t, 'user');
    const grantId = await requestThroughMenu(recorder, a, target);
    await recorder.handle(callbackQuery(`adm:ga:${grantId}`, a.user));
    expect(answers(recorder).at(-1)).toContain('another admin has to approve');
    expect(await roleOf(target)).toBe('user');
  });
});
