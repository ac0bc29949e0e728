/**
 * Threat: processing a restricted or objecting person's data anyway, an erasure that leaves the person signed
 * in, or deadlines that pass unnoticed. The privacy and notify processors run on the real database and Redis:
 * optional notices respect objection and restriction, an erasure ends every session and tells the person, and
 * the deadline job alerts every admin.
 */
import type { Job } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotifyJob } from '#server/notify.ts';
import { controllerInfo } from '#server/services.ts';
import { notifyProcessor } from '#server/workers/notify.worker.ts';
import { privacyProcessor } from '#server/workers/privacy.worker.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { privacyRequests } from '#shared/db/schema-privacy.ts';
import { findUserById } from '#shared/identity/users.ts';
import { createRequest, type PrivacyJob, setObjection, setRestriction } from '#shared/privacy/index.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { type SignedIn, signInAs } from '#test/helpers/sign-in.ts';

let t: TestApp;
let fake: TestBot;
let person: SignedIn;
let admin: SignedIn;

/** A job as BullMQ hands it to a processor (the processors read `data`, `opts`, `attemptsMade`, progress). */
const jobOf = <T>(data: T) =>
  ({ data, opts: { attempts: 1 }, attemptsMade: 0, updateProgress: async () => {} }) as unknown as Job<T, never>;

beforeAll(async () => {
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
  fake = createTestBot({ db: t.database.db });
  person = await signInAs(t, 'user');
  admin = await signInAs(t, 'admin');
}, 180_000);
afterAll(async () => t?.close());

const telegram = () => ({ botToken: TEST_BOT_TOKEN, apiRoot: 'https://api.telegram.invalid', fetch: fake.fetch });
const privacy = () =>
  privacyProcessor({
    db: t.database.db,
    userKeys: t.userKeys,
    controller: controllerInfo(t.config),
    dataDir: t.config.dataDir,
    sessions: t.services.sessions,
    audit: t.services.audit,
    telegram: telegram(),
    logger: t.logger,
  });

describe('privacy jobs', () => {
  it('sends an optional notice only when the person neither objected nor restricted processing', async () => {
    const notify = notifyProcessor({ db: t.database.db, ...telegram() });
    const tip = jobOf<NotifyJob>({ kind: 'security-tip', userId: person.userId, tip: 1 });
    expect(await notify(tip as never)).toEqual({ sent: true });
    await setObjection(t.database.db, person.userId, 'security_tips', true);
    expect(await notify(tip as never)).toEqual({ sent: false, reason: 'not-allowed' });
    await setObjection(t.database.db, person.userId, 'security_tips', false);
    await setRestriction(t.database.db, person.userId, true);
    const before = fake.callsOf('sendMessage').length;
    expect(await notify(tip as never)).toEqual({ sent: false, reason: 'not-allowed' });
    expect(fake.callsOf('sendMessage')).toHaveLength(before);
    await setRestriction(t.database.db, person.userId, false);
  });

  it('alerts every admin about overdue and near-due requests', async () => {
    await createRequest(t.database.db, {
      userId: person.userId,
      kind: 'access',
      status: 'pending',
      now: new Date(Date.now() - 40 * 86_400_000),
    });
    const result = await privacy()(jobOf<PrivacyJob>({ kind: 'deadlines' }) as never);
    expect(result).toMatchObject({ overdue: 1, alerted: 1 });
    const adminRow = await findUserById(t.database.db, admin.userId);
    const alert = fake.callsOf('sendMessage').at(-1);
    expect(alert?.payload.chat_id).toBe(adminRow?.telegramId);
    expect(String(alert?.payload.text)).toContain('1 overdue');
  });

  it('keeps an export completed, and recorded once, when sending it in the chat fails', async () => {
    const { db } = t.database;
    const request = await createRequest(db, { userId: person.userId, kind: 'access', status: 'pending' });
    const job = jobOf<PrivacyJob>({ kind: 'export', requestId: request.id }); // its only attempt
    const completions = () =>
      db
        .select({ id: auditLog.id })
        .from(auditLog)
        .where(and(eq(auditLog.action, 'privacy.export_completed'), eq(auditLog.targetId, request.id)));
    const sentBefore = fake.callsOf('sendDocument').length;
    fake.failNext('sendDocument', 500, 'Internal Server Error: retry later');

    expect(await privacy()(job as never)).toMatchObject({ delivered: false });
    expect(fake.callsOf('sendDocument')).toHaveLength(sentBefore + 1); // the JSON file, refused; the HTML not tried
    const [after] = await db.select().from(privacyRequests).where(eq(privacyRequests.id, request.id));
    expect(after).toMatchObject({ status: 'completed', failureCode: null, progress: 100 });
    expect(await completions()).toHaveLength(1);
    // The download link is what the person has now; running the job again changes and records nothing.
    expect(await privacy()(job as never)).toEqual({ skipped: 'completed' });
    expect(await completions()).toHaveLength(1);
  });

  it('erases a due request: sessions end, the person is told, the sweep finds nothing left', async () => {
    expect(await t.services.sessions.list(person.userId)).not.toHaveLength(0);
    const request = await createRequest(t.database.db, {
      userId: person.userId,
      kind: 'erasure',
      status: 'scheduled',
      effectiveAt: new Date(Date.now() - 1000),
    });
    const row = await findUserById(t.database.db, person.userId);
    const sweep = await privacy()(jobOf<PrivacyJob>({ kind: 'erasure-sweep' }) as never);
    expect(sweep).toMatchObject({ completed: 1 });
    expect(await t.services.sessions.list(person.userId)).toHaveLength(0);
    expect(fake.callsOf('sendMessage').at(-1)).toMatchObject({ payload: { chat_id: row?.telegramId } });
    expect(String(fake.callsOf('sendMessage').at(-1)?.payload.text)).toContain('has been deleted');
    const [after] = await t.database.db.select().from(privacyRequests).where(eq(privacyRequests.id, request.id));
    expect(after?.status).toBe('completed');
    expect(await privacy()(jobOf<PrivacyJob>({ kind: 'erasure-sweep' }) as never)).toMatchObject({ due: 0 });
  });
});
