/**
 * What the admin menu tests share: the real bot with every admin surface on (built on a real test app's
 * services), people in each state an admin can be in (role, MFA, consent, step-up), and readers for the
 * captured Bot API calls.
 */
import { expect } from 'vitest';
import { markBotStepUp } from '#bot/features/step-up.ts';
import type { NotifyJob } from '#server/notify.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { CONSENT_PURPOSES } from '#shared/privacy/index.ts';
import type { FixtureUser } from '#test/fixtures/updates.ts';
import type { TestApp } from '#test/helpers/build-test-app.ts';
import { createTestBot, type TestBot } from '#test/helpers/create-test-bot.ts';
import { codeNow, nextStep } from '../server/mfa/mfa-helpers.ts';

let nextId = 7_900_000 + Math.floor(Math.random() * 50_000) * 10;

/** The bot with /admin on: notices through the real notify queue, rotation queueing the real crypto job. */
export function adminBot(t: TestApp): TestBot {
  return createTestBot({
    db: t.database.db,
    redis: t.redis.client,
    redisPrefix: t.redisPrefix,
    mfa: t.services.mfa,
    audit: t.services.audit,
    sessions: t.services.sessions,
    defense: { service: t.services.defense, redis: t.redis.client, redisPrefix: t.redisPrefix },
    scanner: t.services.scanner,
    privacy: t.services.privacy,
    admin: {
      notify: t.services.notify,
      keys: {
        ring: t.ring,
        reencrypt: async () => {
          await t.queues.crypto.add('reencrypt', { kind: 'reencrypt', requestedAt: new Date().toISOString() });
        },
      },
    },
  });
}

export interface Person {
  user: FixtureUser;
  userId: string;
  /** The TOTP secret, when enrolled (to compute codes as the person's app would). */
  secret?: string;
}

/**
 * A person with the given role. Options: enrolled in MFA (default yes), consent step done (default yes),
 * a code verified in the bot within 10 minutes (default yes, admins only).
 */
export async function person(
  t: TestApp,
  role: 'admin' | 'user',
  options: { mfa?: boolean; consent?: boolean; fresh?: boolean } = {},
): Promise<Person> {
  const user: FixtureUser = { id: ++nextId, first_name: 'Tester', language_code: 'en' };
  const { user: row } = await upsertTelegramUser(t.database.db, {
    telegramId: user.id,
    adminTelegramIds: role === 'admin' ? [user.id] : [],
  });
  if (options.consent ?? true) {
    await t.services.privacy.recordConsent(
      { userId: row.id, source: 'bot' },
      CONSENT_PURPOSES.map((purposeId) => ({ purposeId, granted: false })),
      'bot',
    );
  }
  let secret: string | undefined;
  if (options.mfa ?? role === 'admin') {
    ({ secret } = await t.services.mfa.startEnrolment(row.id, String(user.id)));
    expect((await t.services.mfa.confirmEnrolment(row.id, await codeNow(secret), 'api')).ok).toBe(true);
    nextStep();
  }
  if (role === 'admin' && (options.fresh ?? true)) {
    await markBotStepUp({ redis: t.redis.client, redisPrefix: t.redisPrefix }, row.id);
  }
  return { user, userId: row.id, ...(secret ? { secret } : {}) };
}

/** Texts of the messages sent and edited, in order. */
export function texts(recorder: TestBot, method: 'sendMessage' | 'editMessageText' = 'sendMessage'): string[] {
  return recorder.callsOf(method).map((call) => String(call.payload.text));
}

type Button = { text: string; callback_data?: string };

/** The inline buttons of the last call of `method`. */
export function buttonsOf(recorder: TestBot, method: 'sendMessage' | 'editMessageText' = 'sendMessage'): Button[] {
  const call = recorder.callsOf(method).at(-1);
  const markup = call?.payload.reply_markup as { inline_keyboard?: Button[][] } | undefined;
  return (markup?.inline_keyboard ?? []).flat();
}

/** The callback data of the button whose text contains `label` in the last call of `method`. */
export function dataOf(recorder: TestBot, label: string, method: 'sendMessage' | 'editMessageText' = 'sendMessage') {
  const found = buttonsOf(recorder, method).find((button) => button.text.includes(label));
  if (!found?.callback_data) throw new Error(`No button "${label}" in the last ${method}`);
  return found.callback_data;
}

/** The answers to button taps (the text shown, if any), in order. */
export function answers(recorder: TestBot): string[] {
  return recorder.callsOf('answerCallbackQuery').map((call) => String(call.payload.text ?? ''));
}

export async function notifyJobs(t: TestApp): Promise<NotifyJob[]> {
  const jobs = await t.queues.notify.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
  return jobs.map((job) => job.data);
}
