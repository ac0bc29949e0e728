/**
 * Threat: the admin surface of the bot is reached by the wrong person (a user probing for admin commands, an
 * admin's stolen Telegram session without the second factor), or an admin action leaves no trace. `/admin`
 * opens a menu only for an admin with MFA and a code from the last 10 minutes; anyone else gets the unknown
 * command reply; every section answers, and every section and action is audited with the acting admin.
 * Destructive actions ask for confirmation with a single-use button.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { users } from '#shared/db/schema.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { callbackQuery, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { TEST_BOT_TOKEN, type TestBot } from '#test/helpers/create-test-bot.ts';
import { codeNow, useTestClock } from '../server/mfa/mfa-helpers.ts';
import { adminBot, answers, buttonsOf, dataOf, notifyJobs, person, texts } from './admin.fixtures.ts';

let t: TestApp;

beforeAll(async () => {
  useTestClock();
  t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
});
afterAll(async () => {
  await t.close();
  vi.useRealTimers();
});

async function auditRows(actorId: string, action: string) {
  return t.database.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.actorId, actorId), eq(auditLog.action, action)));
}

describe('who gets the menu', () => {
  it('gives a user the unknown-command reply, without asking for a code or showing a menu', async () => {
    const recorder = adminBot(t);
    const { user } = await person(t, 'user');
    await recorder.handle(textMessage('/admin', user));
    const all = texts(recorder);
    expect(all).toHaveLength(1);
    expect(all[0]).toContain("didn't understand");
    expect(buttonsOf(recorder)).toEqual([]);
  });

  it('asks an admin without a fresh second factor for a code, then opens the menu after it', async () => {
    const recorder = adminBot(t);
    const { user } = await person(t, 'admin', { fresh: false });
    await recorder.handle(textMessage('/admin', user));
    expect(texts(recorder).at(-1)).toContain('Enter the code');
    expect(buttonsOf(recorder).some((button) => button.callback_data?.startsWith('adm/'))).toBe(false);
    // A menu button from an earlier session: asked for a code as well, the section is not shown.
    const before = texts(recorder).length;
    await recorder.handle(callbackQuery('adm/0/0//', user));
    expect(
      texts(recorder)
        .slice(before)
        .some((text) => text.includes('Users')),
    ).toBe(false);
  });

  it('refuses a user forging menu data, without ever drawing the menu', async () => {
    const recorder = adminBot(t);
    const { user } = await person(t, 'user');
    for (const data of ['adm/0/0//', 'adm/9/9//x', 'adm:u:0', 'adm:ck:AAAAAAAAAAAA']) {
      await recorder.handle(callbackQuery(data, user));
      expect(answers(recorder).at(-1), data).toBe('This button is no longer active.');
    }
    const drawn = recorder.calls.filter((call) => JSON.stringify(call.payload).includes('Users & roles'));
    expect(drawn).toEqual([]);
    expect(recorder.callsOf('sendMessage')).toEqual([]);
  });

  it('stops an admin without MFA before anything else', async () => {
    const recorder = adminBot(t);
    const { user } = await person(t, 'admin', { mfa: false });
    await recorder.handle(textMessage('/admin', user));
    expect(texts(recorder).at(-1)).toMatch(/two-factor|\/mfa/i);
    expect(buttonsOf(recorder)).toEqual([]);
  });
});

describe('the menu', () => {
  it('opens with every section, each answering, each view audited with the admin', async () => {
    const recorder = adminBot(t);
    const admin = await person(t, 'admin');
    await recorder.handle(textMessage('/admin', admin.user));
    expect(texts(recorder).at(-1)).toContain('Admin');
    const labels = buttonsOf(recorder).map((button) => button.text);
    expect(labels).toEqual([
      '👥 Users & roles',
      '🛡 Bans & decisions',
      '🔎 Audit search',
      '📊 Stats',
      '🧪 Scan',
      '📋 Data requests',
      '🔑 Key rotation',
      '🗳 Admin requests',
    ]);
    const menu = buttonsOf(recorder);
    expect(menu.every((button) => button.callback_data?.startsWith('adm/'))).toBe(true);
    expect(menu.every((button) => Buffer.byteLength(button.callback_data ?? '') <= 64)).toBe(true);

    const expected: Record<string, RegExp> = {
      '👥 Users & roles': /Users<\/b> 1–\d+ of \d+/,
      '🛡 Bans & decisions': /decisions/i,
      '🔎 Audit search': /Audit<\/b> · latest · page 1/,
      '📊 Stats': /Security KPIs/,
      '🧪 Scan': /Security scan/,
      '📋 Data requests': /data requests/i,
      '🔑 Key rotation': /Key ring<\/b>\nKey \d+: primary/,
      '🗳 Admin requests': /No admin requests waiting/,
    };
    for (const button of menu) {
      const before = texts(recorder).length;
      await recorder.handle(callbackQuery(button.callback_data ?? '', admin.user));
      const answer = texts(recorder).slice(before);
      expect(answer, button.text).toHaveLength(1);
      expect(answer[0], button.text).toMatch(expected[button.text] ?? /^$/);
    }
    const viewed = await auditRows(admin.userId, 'admin.section_viewed');
    expect(viewed.map((row) => row.reasonCode).sort()).toEqual(
      ['AUDIT', 'DECISIONS', 'DSR', 'GRANTS', 'KEYS', 'SCAN', 'STATS', 'USERS'].sort(),
    );
    expect(viewed.every((row) => row.actorType === 'user' && row.source === 'bot')).toBe(true);
    expect(await auditRows(admin.userId, 'admin.menu_opened')).toHaveLength(1);
  });

  it('pages through users and shows one user with role buttons', async () => {
    const recorder = adminBot(t);
    const admin = await person(t, 'admin');
    for (let i = 0; i < 9; i++) await person(t, 'user', { consent: false });
    await recorder.handle(textMessage('/admin', admin.user));
    await recorder.handle(callbackQuery(dataOf(recorder, 'Users & roles'), admin.user));
    expect(texts(recorder).at(-1)).toMatch(/Users<\/b> 1–8 of \d+/);
    await recorder.handle(callbackQuery(dataOf(recorder, 'Next'), admin.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toMatch(/Users<\/b> 9–\d+ of \d+/);
    expect(buttonsOf(recorder, 'editMessageText').some((button) => button.text.includes('Prev'))).toBe(true);

    const target = await person(t, 'user');
    await recorder.handle(callbackQuery(`adm:ud:${target.userId}`, admin.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toContain(`User <code>${target.userId}</code>\nRole: user`);
    const labels = buttonsOf(recorder, 'editMessageText').map((button) => button.text);
    expect(labels).toEqual(
      expect.arrayContaining(['⬆️ Make admin (second admin approves)', '⬇️ Set role: readonly', '⛔ Ban for 24 h']),
    );
    expect(labels).not.toContain('⬇️ Set role: user');
  });

  it('changes a role only after confirmation, with a single-use button; audited and the person told', async () => {
    const recorder = adminBot(t);
    const admin = await person(t, 'admin');
    const target = await person(t, 'user');
    await recorder.handle(callbackQuery(`adm:ur:${target.userId}:r`, admin.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('Change the role');
    const confirm = dataOf(recorder, 'Confirm', 'editMessageText');
    expect(confirm).toMatch(new RegExp(`^adm:cr:${target.userId}:r:[A-Za-z0-9_-]{12}$`));
    // Asking changed nothing yet.
    const roleNow = async () =>
      (await t.database.db.select({ role: users.role }).from(users).where(eq(users.id, target.userId)))[0]?.role;
    expect(await roleNow()).toBe('user');

    // Someone else tapping the same data: refused, and the admin's button still works afterwards.
    const other = await person(t, 'admin');
    await recorder.handle(callbackQuery(confirm, other.user));
    expect(answers(recorder).at(-1)).toBe('This button is no longer active.');
    expect(await roleNow()).toBe('user');

    await recorder.handle(callbackQuery(confirm, admin.user));
    expect(await roleNow()).toBe('readonly');
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('is now readonly');
    const [change] = await t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'admin.role_change'), eq(auditLog.subjectUserId, target.userId)));
    expect(change).toMatchObject({ actorId: admin.userId, reasonCode: 'ROLE_USER_TO_READONLY', source: 'bot' });
    expect(await notifyJobs(t)).toContainEqual({ kind: 'role-changed', userId: target.userId, role: 'readonly' });

    // Replayed: refused, nothing changes again.
    await t.database.db.update(users).set({ role: 'user' }).where(eq(users.id, target.userId));
    await recorder.handle(callbackQuery(confirm, admin.user));
    expect(answers(recorder).at(-1)).toBe('This button is no longer active.');
    expect(await roleNow()).toBe('user');
  });

  it('bans and lifts with confirmation (audited by defense with the admin as actor)', async () => {
    const recorder = adminBot(t);
    const admin = await person(t, 'admin');
    const target = await person(t, 'user');
    await recorder.handle(callbackQuery(`adm:ub:${target.userId}`, admin.user));
    await recorder.handle(callbackQuery(dataOf(recorder, 'Confirm', 'editMessageText'), admin.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('is banned until');
    const [issued] = await auditRows(admin.userId, 'defense.decision_issued');
    expect(issued).toMatchObject({ result: 'success', source: 'bot' });

    await recorder.handle(callbackQuery('adm:d', admin.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toMatch(/Active decisions<\/b> \(\d+\)/);
    await recorder.handle(callbackQuery(dataOf(recorder, 'Lift 1', 'editMessageText'), admin.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('Lift decision');
    await recorder.handle(callbackQuery(dataOf(recorder, 'Confirm', 'editMessageText'), admin.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('lifted');
    expect(await auditRows(admin.userId, 'defense.decision_lifted')).toHaveLength(1);
  });

  it('refuses to ban oneself', async () => {
    const recorder = adminBot(t);
    const admin = await person(t, 'admin');
    await recorder.handle(callbackQuery(`adm:ub:${admin.userId}`, admin.user));
    expect(answers(recorder).at(-1)).toContain('your own account');
    expect(recorder.callsOf('editMessageText')).toHaveLength(0);
  });

  it('rotates the key after confirmation: a new primary key, re-encryption queued, audited', async () => {
    const recorder = adminBot(t);
    const admin = await person(t, 'admin');
    const primaryBefore = t.ring.primary().id;
    await recorder.handle(callbackQuery('adm:k', admin.user));
    await recorder.handle(callbackQuery(dataOf(recorder, 'Rotate', 'editMessageText'), admin.user));
    expect(t.ring.primary().id).toBe(primaryBefore);
    await t.queues.crypto.obliterate({ force: true });
    await recorder.handle(callbackQuery(dataOf(recorder, 'Confirm', 'editMessageText'), admin.user));
    const primaryAfter = t.ring.primary().id;
    expect(primaryAfter).toBeGreaterThan(primaryBefore);
    expect(texts(recorder, 'editMessageText').at(-1)).toContain(`Key ${primaryAfter} is now primary`);
    const jobs = await t.queues.crypto.getJobs(['waiting', 'delayed', 'prioritized', 'active']);
    expect(jobs.map((job) => job.data.kind)).toEqual(['reencrypt']);
    const [rotated] = await auditRows(admin.userId, 'admin.key_rotated');
    expect(rotated).toMatchObject({ targetType: 'crypto_key', targetId: String(primaryAfter), source: 'bot' });
  });

  it('searches the audit trail by action prefix and by user id, ids and codes only', async () => {
    const recorder = adminBot(t);
    const admin = await person(t, 'admin');
    await recorder.handle(textMessage('/admin', admin.user));
    await recorder.handle(textMessage('/admin audit admin.', admin.user));
    const byPrefix = texts(recorder).at(-1) ?? '';
    expect(byPrefix).toContain('admin.*');
    expect(byPrefix).toContain('admin.menu_opened');
    expect(byPrefix).not.toContain('Tester');
    await recorder.handle(textMessage(`/admin audit ${admin.userId}`, admin.user));
    expect(texts(recorder).at(-1)).toContain(`user ${admin.userId}`);
    expect(texts(recorder).at(-1)).toContain('admin.audit_searched');
    // A prefix button switches the filter in place.
    await recorder.handle(callbackQuery(dataOf(recorder, 'mfa.'), admin.user));
    expect(texts(recorder, 'editMessageText').at(-1)).toContain('mfa.*');
    await recorder.handle(textMessage('/admin audit DROP TABLE', admin.user));
    expect(texts(recorder).at(-1)).toContain('/admin audit');
    const searches = await auditRows(admin.userId, 'admin.audit_searched');
    expect(searches.map((row) => row.reasonCode)).toEqual(['FILTER_P', 'FILTER_U', 'FILTER_P']);
  });

  it('refuses malformed section data', async () => {
    const recorder = adminBot(t);
    const admin = await person(t, 'admin');
    for (const data of ['adm:ud:not-a-uuid', 'adm:u:-1', 'adm:a:p:DROP:0', 'adm:cr:x', `adm:ur:${admin.userId}:z`]) {
      await recorder.handle(callbackQuery(data, admin.user));
      expect(answers(recorder).at(-1), data).toBe('This button is no longer active.');
    }
    expect(recorder.callsOf('editMessageText')).toHaveLength(0);
  });
});

describe('through the real webhook endpoint', () => {
  let hook: TestApp;
  let recorder: TestBot;
  beforeAll(async () => {
    // The bot on the first app's services, served by a second app of the same deployment in webhook mode.
    recorder = adminBot(t);
    hook = await buildTestApp({
      database: t.database,
      secrets: t.secrets,
      redisPrefix: t.redisPrefix,
      bot: recorder.bot,
      env: { BOT_TOKEN: TEST_BOT_TOKEN, BOT_MODE: 'webhook', PUBLIC_URL: 'https://bot.example.test' },
    });
  });
  afterAll(async () => {
    await hook.close();
  });

  const post = (update: object, secret = t.secrets.webhookSecret) =>
    hook.app.inject({
      method: 'POST',
      url: '/telegram/webhook',
      headers: { 'x-telegram-bot-api-secret-token': secret },
      payload: update,
    });

  it('step-up, then the menu and a section, with every Bot API call captured', async () => {
    const admin = await person(t, 'admin', { fresh: false });
    // A forged post never reaches the bot.
    expect((await post(textMessage('/admin', admin.user), 'x'.repeat(40))).statusCode).toBe(401);
    expect(recorder.calls).toHaveLength(0);

    expect((await post(textMessage('/admin', admin.user))).statusCode).toBe(200);
    expect(texts(recorder).at(-1)).toContain('Enter the code');
    const code = textMessage(await codeNow(admin.secret ?? ''), admin.user);
    expect((await post(code)).statusCode).toBe(200);
    expect(texts(recorder).at(-1)).toContain('Verified for 10 minutes');
    expect(recorder.callsOf('deleteMessage').map((call) => call.payload.message_id)).toContain(
      code.message?.message_id,
    );

    expect((await post(textMessage('/admin', admin.user))).statusCode).toBe(200);
    expect(texts(recorder).at(-1)).toContain('Choose a section');
    expect((await post(callbackQuery(dataOf(recorder, 'Key rotation'), admin.user))).statusCode).toBe(200);
    expect(texts(recorder).at(-1)).toMatch(/Key ring/);
  });

  it('answers a user exactly like an unknown command', async () => {
    const user = await person(t, 'user');
    const before = recorder.callsOf('sendMessage').length;
    expect((await post(textMessage('/admin', user.user))).statusCode).toBe(200);
    expect((await post(textMessage('/nosuchcommand', user.user))).statusCode).toBe(200);
    const [admin, unknown] = texts(recorder).slice(before);
    expect(admin).toBe(unknown);
    expect(admin).toContain("didn't understand");
  });
});
