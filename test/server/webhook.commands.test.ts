/**
 * Threat: a command run by someone its permission does not cover, in a chat it is not meant for, or an answer
 * that tells an outsider which (admin) commands exist. Every command of the registry is sent by every role in
 * a private chat and in a group through the real webhook endpoint (POST /telegram/webhook), and the Bot API
 * calls the bot makes are captured: unauthorized commands get the unknown-command reply byte for byte (silence
 * in groups) and one security event per person, command and minute; private-only commands never run in a
 * group; until the consent step is done only the `anyone` commands (/start, /help, /privacy) work.
 */
import { and, eq } from 'drizzle-orm';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { COMMANDS, type CommandSpec } from '#bot/commands.ts';
import { COMMANDS_BEFORE_CONSENT } from '#bot/features/consent.ts';
import { markBotStepUp } from '#bot/features/step-up.ts';
import { translator } from '#bot/i18n/index.ts';
import { auditLog } from '#shared/db/schema-audit.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { CONSENT_PURPOSES } from '#shared/privacy/index.ts';
import { ALICE, type FixtureUser, textMessage } from '#test/fixtures/updates.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import {
  type ApiCall,
  createTestBot,
  TEST_BOT_INFO,
  TEST_BOT_TOKEN,
  type TestBot,
} from '#test/helpers/create-test-bot.ts';
import { codeNow, useTestClock } from './mfa/mfa-helpers.ts';

const t = translator('en');
const UNKNOWN = t('unhandled.message');
const CONSENT_GATE = t('consent.gate');
const STEP_UP = t('stepup.ask');
const SENDS = new Set(['sendMessage', 'sendPhoto', 'sendDocument']);

type Role = 'anonymous' | 'user' | 'chat-admin' | 'admin' | 'admin-fresh';
type ChatKind = 'private' | 'group';
interface Person extends FixtureUser {
  userId: string;
}

let base: TestApp;
let app: TestApp;
let bot: TestBot;
let nextId = 8_400_000;
let nextChat = 1_000_000_000_000;
/** Telegram ids the fake Bot API reports as administrators of every group. */
const groupAdmins = new Set<number>();
/** Telegram ids for which Telegram refuses getChatMember (e.g. the bot lost access to the group). */
const refusedLookups = new Set<number>();
const chatMemberLookups: number[] = [];

beforeAll(async () => {
  useTestClock();
  // The services first (the bot needs them), then the app that serves the bot's webhook over the same stores.
  base = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
  bot = createTestBot({
    db: base.database.db,
    audit: base.services.audit,
    redis: base.redis.client,
    redisPrefix: base.redisPrefix,
    mfa: base.services.mfa,
    privacy: base.services.privacy,
    apiKeys: base.services.apiKeys,
    sessions: base.services.sessions,
    scanner: base.services.scanner,
    defense: { service: base.services.defense, redis: base.redis.client, redisPrefix: base.redisPrefix },
    admin: { notify: async () => {} },
  });
  // getChatMember as Telegram answers it: administrators of the group, everyone else a member.
  bot.bot.api.config.use(async (prev, method, payload, signal) => {
    if (method !== 'getChatMember') return prev(method, payload, signal);
    const userId = Number((payload as { user_id: number }).user_id);
    chatMemberLookups.push(userId);
    if (refusedLookups.has(userId)) {
      return { ok: false, error_code: 400, description: 'Bad Request: member not found' } as never;
    }
    const status = groupAdmins.has(userId) ? 'administrator' : 'member';
    return { ok: true, result: { status, user: { id: userId, is_bot: false, first_name: 'X' } } } as never;
  });
  app = await buildTestApp({
    database: base.database,
    secrets: base.secrets,
    redisPrefix: base.redisPrefix,
    bot: bot.bot,
    env: { BOT_MODE: 'webhook' },
  });
});
afterAll(async () => {
  await app?.close();
  await base?.close();
  vi.useRealTimers();
});

async function person(role: Role): Promise<Person> {
  const user = { ...ALICE, id: ++nextId };
  const admin = role === 'admin' || role === 'admin-fresh';
  const { user: row } = await upsertTelegramUser(base.database.db, {
    telegramId: user.id,
    adminTelegramIds: admin ? [user.id] : [],
  });
  if (role !== 'anonymous') {
    await base.services.privacy.recordConsent(
      { userId: row.id, source: 'bot' },
      CONSENT_PURPOSES.map((purposeId) => ({ purposeId, granted: false })),
      'bot',
    );
  }
  if (admin) {
    const { secret } = await base.services.mfa.startEnrolment(row.id, String(user.id));
    expect((await base.services.mfa.confirmEnrolment(row.id, await codeNow(secret), 'api')).ok).toBe(true);
  }
  if (role === 'admin-fresh') await markBotStepUp({ redis: base.redis.client, redisPrefix: base.redisPrefix }, row.id);
  if (role === 'chat-admin') groupAdmins.add(user.id);
  return { ...user, userId: row.id };
}

const newGroup = () => ({ id: -++nextChat, type: 'supergroup' as const, title: 'Test group' });

/** Posts an update to the webhook with the right secret; returns the Bot API calls it caused. */
async function send(
  text: string,
  from: FixtureUser,
  chat?: ReturnType<typeof newGroup>,
  edit: (update: Update) => Update = (update) => update,
): Promise<ApiCall[]> {
  const before = bot.calls.length;
  const response = await app.app.inject({
    method: 'POST',
    url: '/telegram/webhook',
    headers: { 'x-telegram-bot-api-secret-token': app.secrets.webhookSecret },
    payload: edit(textMessage(text, from, chat)) as object,
  });
  expect(response.statusCode).toBe(200);
  const calls = bot.calls.slice(before).filter((call) => SENDS.has(call.method));
  // A one-reply command may be answered in the webhook response itself (a Bot API call without a request).
  const inResponse = response.body ? (JSON.parse(response.body) as { method?: string }) : {};
  if (typeof inResponse.method === 'string') {
    const { method, ...payload } = inResponse;
    calls.unshift({ method, payload });
  }
  return calls;
}

const textOf = (call: ApiCall) => String(call.payload.text ?? call.payload.caption ?? '');

async function denials(command: string, userId: string) {
  return base.database.db
    .select()
    .from(auditLog)
    .where(
      and(
        eq(auditLog.action, 'security.bot_command_denied'),
        eq(auditLog.targetId, command),
        eq(auditLog.actorId, userId),
      ),
    );
}

type Outcome =
  | 'runs'
  | 'unknown'
  | 'consent'
  | 'step-up'
  | 'group-only'
  | 'private-hint'
  | 'silent'
  | 'denied'
  | 'passes';

/** What each role must see for each command, from the registry's declarations. */
function expected(spec: CommandSpec, role: Role, chat: ChatKind): Outcome {
  const admin = role === 'admin' || role === 'admin-fresh';
  if (chat === 'private') {
    if (spec.chat === 'group') return 'group-only';
    if (spec.permission === 'anyone') return 'runs';
    if (spec.permission === 'user') return role === 'anonymous' ? 'consent' : 'runs';
    if (spec.permission === 'admin') return role === 'admin-fresh' ? 'runs' : role === 'admin' ? 'step-up' : 'unknown';
    return 'unknown';
  }
  if (spec.chat === 'private') {
    if (spec.permission === 'admin') return admin ? 'silent' : 'denied';
    return 'private-hint';
  }
  if (spec.permission === 'chat_admin') return role === 'chat-admin' ? 'passes' : 'denied';
  if (spec.permission === 'admin') return admin ? 'passes' : 'denied';
  return 'passes';
}

const PRIVATE_ROLES: Role[] = ['anonymous', 'user', 'admin', 'admin-fresh'];
const GROUP_ROLES: Role[] = ['anonymous', 'user', 'chat-admin', 'admin'];

describe('each command × role × chat type through POST /telegram/webhook', () => {
  for (const spec of COMMANDS) {
    for (const [chat, roles] of [
      ['private', PRIVATE_ROLES],
      ['group', GROUP_ROLES],
    ] as const) {
      for (const role of roles) {
        const outcome = expected(spec, role, chat);
        it(`/${spec.command} (${spec.permission}, ${spec.chat}) by ${role} in a ${chat} chat: ${outcome}`, async () => {
          const who = await person(role);
          const group = chat === 'group' ? newGroup() : undefined;
          const lookupsBefore = chatMemberLookups.length;
          const sent = await send(`/${spec.command}`, who, group);
          const texts = sent.map(textOf);
          const rows = await denials(spec.command, who.userId);
          switch (outcome) {
            case 'runs':
              expect(sent.length).toBeGreaterThan(0);
              for (const text of texts) {
                expect(text).not.toBe(UNKNOWN);
                expect(text).not.toContain(CONSENT_GATE);
                expect(text).not.toContain(STEP_UP);
                expect(text).not.toBe(t('errors.generic'));
              }
              expect(rows).toHaveLength(0);
              break;
            case 'unknown':
              expect(sent.map((call) => call.payload)).toEqual([{ chat_id: who.id, text: UNKNOWN }]);
              expect(rows).toHaveLength(1);
              break;
            case 'consent':
              expect(texts).toContain(CONSENT_GATE);
              expect(texts).not.toContain(UNKNOWN);
              expect(rows).toHaveLength(0);
              break;
            case 'step-up':
              expect(texts.at(-1)).toBe(STEP_UP);
              expect(rows).toHaveLength(0);
              break;
            case 'group-only':
              expect(texts).toEqual([t('commands.group_only')]);
              break;
            case 'private-hint': {
              // Never run in the group: one short hint with a button opening the private chat.
              expect(sent).toHaveLength(1);
              expect(sent[0]?.payload).toMatchObject({
                chat_id: group?.id,
                text: t('commands.private_only'),
                reply_markup: {
                  inline_keyboard: [
                    [
                      {
                        text: t('commands.private_only_button'),
                        url: `https://t.me/${TEST_BOT_INFO.username}?start=${spec.command}`,
                      },
                    ],
                  ],
                },
              });
              expect(rows).toHaveLength(0);
              break;
            }
            case 'silent':
              expect(sent).toEqual([]);
              expect(rows).toHaveLength(0);
              break;
            case 'denied':
              expect(sent).toEqual([]);
              expect(rows).toHaveLength(1);
              expect(rows[0]).toMatchObject({
                actorType: 'user',
                subjectUserId: who.userId,
                targetType: 'bot_command',
                result: 'denied',
                reasonCode: spec.permission === 'admin' ? 'ADMIN_REQUIRED' : 'CHAT_ADMIN_REQUIRED',
                source: 'bot',
                details: null,
              });
              break;
            case 'passes':
              for (const text of texts) expect(text).not.toBe(UNKNOWN);
              expect(rows).toHaveLength(0);
              if (spec.permission === 'chat_admin') expect(chatMemberLookups.length).toBeGreaterThan(lookupsBefore);
              break;
          }
        });
      }
    }
  }
});

describe('unauthorized looks exactly like unknown', () => {
  const adminCommands = COMMANDS.filter((spec) => spec.permission === 'admin');

  it('has admin commands to hide', () => {
    expect(adminCommands.map((spec) => spec.command)).toEqual(expect.arrayContaining(['stats', 'scan', 'decisions']));
  });

  for (const role of ['user', 'anonymous'] as const) {
    it(`gives a ${role} the same Bot API call for every admin command as for a command that does not exist`, async () => {
      const who = await person(role);
      const unknown = await send('/nosuchcommand', who);
      expect(unknown.map((call) => [call.method, call.payload])).toEqual([
        ['sendMessage', { chat_id: who.id, text: UNKNOWN }],
      ]);
      for (const spec of adminCommands) {
        for (const text of [`/${spec.command}`, `/${spec.command}@${TEST_BOT_INFO.username}`, `/${spec.command} now`]) {
          const denied = await send(text, who);
          expect(
            denied.map((call) => [call.method, call.payload]),
            text,
          ).toEqual(unknown.map((call) => [call.method, call.payload]));
        }
      }
    });
  }

  it('answers someone without an account the same way, with an event that stores no Telegram id', async () => {
    const stranger = { ...ALICE, id: ++nextId };
    const unknown = await send('/nosuchcommand', stranger);
    const denied = await send('/stats', stranger);
    expect(denied.map((call) => call.payload)).toEqual(unknown.map((call) => call.payload));
    const rows = (await base.database.db.select().from(auditLog)).filter(
      (row) => row.action === 'security.bot_command_denied' && row.actorType === 'anonymous',
    );
    expect(rows.length).toBeGreaterThanOrEqual(1);
    for (const row of rows) expect(JSON.stringify(row)).not.toContain(String(stranger.id));
  });

  it('stays silent in a group, for unknown and unauthorized alike', async () => {
    const who = await person('user');
    const group = newGroup();
    expect(await send('/nosuchcommand', who, group)).toEqual([]);
    expect(await send('/stats', who, group)).toEqual([]);
  });

  it('leaves a command addressed to another bot alone: no event, no hint', async () => {
    const who = await person('user');
    const group = newGroup();
    expect(await send('/stats@SomeOtherBot', who, group)).toEqual([]);
    expect(await send('/mydata@SomeOtherBot', who, group)).toEqual([]);
    expect(await denials('stats', who.userId)).toHaveLength(0);
  });
});

describe('security events for denied commands', () => {
  it('writes one row per person, command and minute however many attempts', async () => {
    const who = await person('user');
    for (let i = 0; i < 6; i++) await send('/stats', who);
    await send(`/stats@${TEST_BOT_INFO.username}`, who);
    expect(await denials('stats', who.userId)).toHaveLength(1);
    // The marker that suppresses the repeats lives for the rest of the minute.
    const ttl = await base.redis.client.ttl(`${base.redisPrefix}:cmd-denied:${who.id}:stats`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    // Another command, or another person, is another row.
    await send('/scan', who);
    expect(await denials('scan', who.userId)).toHaveLength(1);
    const other = await person('user');
    await send('/stats', other);
    expect(await denials('stats', other.userId)).toHaveLength(1);
    // Once the minute is over, the next attempt is recorded again.
    await base.redis.client.del(`${base.redisPrefix}:cmd-denied:${who.id}:stats`);
    await send('/stats', who);
    expect(await denials('stats', who.userId)).toHaveLength(2);
  });

  it('records no message text', async () => {
    const who = await person('user');
    await send('/dsr secret-looking-argument-9137', who);
    const [row] = await denials('dsr', who.userId);
    expect(row).toBeDefined();
    expect(JSON.stringify(row)).not.toContain('secret-looking-argument-9137');
    expect(row?.details).toBeNull();
  });
});

describe('the consent gate', () => {
  it('lets only the anyone commands (/start, /help, /privacy) through before the consent step', async () => {
    expect([...COMMANDS_BEFORE_CONSENT].sort()).toEqual(['help', 'privacy', 'start']);
    const who = await person('anonymous');
    for (const spec of COMMANDS.filter((s) => s.chat !== 'group' && s.permission === 'user')) {
      const texts = (await send(`/${spec.command}`, who)).map(textOf);
      expect(texts, spec.command).toContain(CONSENT_GATE);
    }
    expect((await send('hello there', who)).map(textOf)).toContain(CONSENT_GATE);
    expect((await send('/help', who)).map(textOf)).toEqual([t('help.text')]);
    expect((await send('/privacy', who)).map(textOf).join('\n')).toContain('Your privacy');
  });

  it('opens the user commands once the choices are saved', async () => {
    const who = await person('anonymous');
    expect((await send('/mydata', who)).map(textOf)).toContain(CONSENT_GATE);
    await base.services.privacy.recordConsent(
      { userId: who.userId, source: 'bot' },
      CONSENT_PURPOSES.map((purposeId) => ({ purposeId, granted: false })),
      'bot',
    );
    const texts = (await send('/mydata', who)).map(textOf);
    expect(texts.join('\n')).toContain('Your data');
    expect(texts).not.toContain(CONSENT_GATE);
  });
});

describe('group administrator commands', () => {
  const moderation = COMMANDS.filter((spec) => spec.permission === 'chat_admin' && spec.chat !== 'private');

  it.skipIf(moderation.length === 0)('asks Telegram once a minute per person and group, not per command', async () => {
    const who = await person('chat-admin');
    const group = newGroup();
    const before = chatMemberLookups.length;
    for (const spec of moderation) await send(`/${spec.command}`, who, group);
    await send(`/${moderation[0]?.command}`, who, group);
    expect(chatMemberLookups.length - before).toBe(1);
    for (const spec of moderation) expect(await denials(spec.command, who.userId)).toHaveLength(0);
  });

  it.skipIf(moderation.length === 0)(
    'treats a refused lookup as not an administrator: silence and an event',
    async () => {
      const who = await person('user');
      refusedLookups.add(who.id);
      const command = moderation[0]?.command ?? '';
      expect(await send(`/${command}`, who, newGroup())).toEqual([]);
      expect(await denials(command, who.userId)).toMatchObject([{ reasonCode: 'CHAT_ADMIN_REQUIRED' }]);
    },
  );

  it.skipIf(moderation.length === 0)(
    'lets an anonymous group administrator (writing as the group) through',
    async () => {
      const who = await person('user');
      const group = newGroup();
      const before = chatMemberLookups.length;
      const command = moderation[0]?.command ?? '';
      await send(`/${command}`, who, group, (update) => {
        const message = update.message as NonNullable<Update['message']>;
        return { ...update, message: { ...message, sender_chat: { ...group } } } as Update;
      });
      expect(chatMemberLookups.length).toBe(before);
      expect(await denials(command, who.userId)).toHaveLength(0);
    },
  );
});
