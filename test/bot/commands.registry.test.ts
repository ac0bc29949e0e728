/**
 * Threat: a command that exists without declaring who may use it, an admin command shown in a menu where
 * non-admins (or a group) see it, or a menu that outlives an admin's role. The registry drives the consent gate
 * and the admin step-up list, and sets every menu with setMyCommands scopes at start: private chats get the
 * commands for everyone, groups theirs, group administrators the moderation ones, and admins the admin ones only
 * in their own private chat; a role change sets or removes that one chat's menu.
 */
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COMMAND_MENUS,
  COMMANDS,
  commandSpec,
  commandsWithPermission,
  parseCommand,
  refreshCommandMenu,
  worksIn,
} from '#bot/commands.ts';
import { BOT_COMMANDS } from '#bot/create-bot.ts';
import { ADMIN_COMMANDS } from '#bot/features/admin-step-up.ts';
import { COMMANDS_BEFORE_CONSENT } from '#bot/features/consent.ts';
import { en } from '#bot/i18n/en.ts';
import { startBot } from '#bot/run.ts';
import type { NotifyJob } from '#server/notify.ts';
import type { NotifyJobResult } from '#server/queues.ts';
import { notifyProcessor } from '#server/workers/notify.worker.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { createLogger } from '#shared/logger.ts';
import { buildTestApp, type TestApp } from '#test/helpers/build-test-app.ts';
import { type ApiCall, createTestBot, TEST_BOT_INFO, TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';

const names = (specs: readonly { command: string }[]) => specs.map((spec) => spec.command);
const ADMIN_ONLY = names(COMMANDS.filter((spec) => spec.permission === 'admin'));
const MODERATION = names(COMMANDS.filter((spec) => spec.permission === 'chat_admin'));

describe('the registry', () => {
  it('declares each command once, with a valid name, a menu text, a permission and a chat', () => {
    expect(new Set(names(COMMANDS)).size).toBe(COMMANDS.length);
    for (const spec of COMMANDS) {
      // Telegram's rule for command names: 1-32 of a-z, 0-9 and _.
      expect(spec.command).toMatch(/^[a-z0-9_]{1,32}$/);
      expect(Object.keys(en)).toContain(spec.description);
      expect(['anyone', 'user', 'admin', 'chat_admin']).toContain(spec.permission);
      expect(['private', 'group', 'any']).toContain(spec.chat);
      expect(commandSpec(spec.command)).toBe(spec);
    }
    expect(commandSpec('nosuchcommand')).toBeUndefined();
  });

  it('keeps sensitive commands to private chats: every admin command and every command for signed-up users', () => {
    for (const spec of COMMANDS.filter((s) => s.permission === 'admin' || s.permission === 'user')) {
      expect(spec.chat, spec.command).toBe('private');
      expect(worksIn(spec, 'private')).toBe(true);
      expect(worksIn(spec, 'supergroup')).toBe(false);
      expect(worksIn(spec, 'group')).toBe(false);
    }
  });

  it('drives the consent gate and the admin step-up list', () => {
    expect([...COMMANDS_BEFORE_CONSENT].sort()).toEqual(['help', 'privacy', 'start']);
    expect([...ADMIN_COMMANDS].sort()).toEqual([...ADMIN_ONLY].sort());
    expect(ADMIN_COMMANDS).toEqual(expect.arrayContaining(['decisions', 'stats', 'scan', 'dsr']));
    expect(commandsWithPermission('user')).toEqual(expect.arrayContaining(['sessions', 'apikeys', 'mfa', 'mydata']));
  });

  it('reads the leading command of a message, and tells ours from another bot’s', () => {
    const message = (text: string, offset = 0, length = text.split(' ')[0]?.length ?? 0) => ({
      text,
      entities: [{ type: 'bot_command' as const, offset, length }],
    });
    expect(parseCommand(message('/stats'), 'security_test_bot')).toEqual({ name: 'stats', forUs: true });
    expect(parseCommand(message('/Stats@Security_Test_Bot now'), 'security_test_bot')).toEqual({
      name: 'stats',
      forUs: true,
    });
    expect(parseCommand(message('/stats@OtherBot'), 'security_test_bot')).toEqual({ name: 'stats', forUs: false });
    expect(parseCommand(message('see /stats', 4, 6), 'security_test_bot')).toBeUndefined();
    expect(parseCommand({ text: '/stats' }, 'security_test_bot')).toBeUndefined();
    expect(parseCommand(undefined, 'security_test_bot')).toBeUndefined();
  });

  it('builds menus where admin commands appear only in the admin menu, moderation only for group admins', () => {
    expect(names(COMMAND_MENUS.private)).toEqual(names(BOT_COMMANDS));
    expect(names(COMMAND_MENUS.private)).toEqual(
      expect.arrayContaining(['start', 'help', 'privacy', 'sessions', 'apikeys', 'mfa', 'mydata']),
    );
    for (const menu of [COMMAND_MENUS.private, COMMAND_MENUS.group, COMMAND_MENUS.groupAdmin]) {
      for (const command of ADMIN_ONLY) expect(names(menu)).not.toContain(command);
    }
    for (const command of MODERATION) {
      expect(names(COMMAND_MENUS.group)).not.toContain(command);
      expect(names(COMMAND_MENUS.private)).not.toContain(command);
    }
    expect(names(COMMAND_MENUS.groupAdmin)).toEqual(expect.arrayContaining(MODERATION));
    expect(names(COMMAND_MENUS.admin)).toEqual([...names(COMMAND_MENUS.private), ...ADMIN_ONLY]);
  });
});

describe('command menus with setMyCommands scopes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { BOT_TOKEN: TEST_BOT_TOKEN } });
  });
  afterAll(async () => t.close());

  const scopeOf = (call: ApiCall) => call.payload.scope as { type: string; chat_id?: number };
  const commandsOf = (call: ApiCall | undefined) =>
    ((call?.payload.commands ?? []) as { command: string; description: string }[]).map((c) => c.command);

  it('sets every audience’s menu at start, the admin menu only in each admin’s own private chat', async () => {
    const bootstrapAdmin = 9_100_001;
    const promotedAdmin = 9_100_002;
    const user = 9_100_003;
    await upsertTelegramUser(t.database.db, { telegramId: promotedAdmin, adminTelegramIds: [promotedAdmin] });
    await upsertTelegramUser(t.database.db, { telegramId: user, adminTelegramIds: [] });
    const recorder = createTestBot({ db: t.database.db, adminTelegramIds: [bootstrapAdmin] });
    await startBot(recorder.bot, {
      mode: 'webhook',
      publicUrl: 'https://bot.example.com',
      webhookSecret: 'w'.repeat(40),
      logger: createLogger({ level: 'silent' }),
      startupTimeoutMs: 5_000,
    });

    const menuCalls = recorder.calls.filter((c) => c.method === 'setMyCommands' || c.method === 'deleteMyCommands');
    // Menus come before the webhook is registered, so the first update already sees them.
    expect(recorder.calls.at(-1)?.method).toBe('setWebhook');
    const byScope = (type: string, chatId?: number) =>
      menuCalls.filter((c) => scopeOf(c).type === type && (chatId === undefined || scopeOf(c).chat_id === chatId));

    // The default scope is cleared: a group never falls back to the private commands.
    expect(byScope('default').map((c) => c.method)).toEqual(['deleteMyCommands']);
    const privateMenu = byScope('all_private_chats');
    expect(privateMenu.map((c) => c.method)).toEqual(['setMyCommands']);
    expect(commandsOf(privateMenu[0])).toEqual(names(COMMAND_MENUS.private));
    // Descriptions are the translated texts, never keys.
    for (const command of (privateMenu[0]?.payload.commands ?? []) as { description: string }[]) {
      expect(command.description).not.toMatch(/^commands\./);
    }
    const groupAdminMenu = byScope('all_chat_administrators');
    expect(groupAdminMenu).toHaveLength(1);
    if (MODERATION.length > 0) expect(commandsOf(groupAdminMenu[0])).toEqual(names(COMMAND_MENUS.groupAdmin));
    expect(byScope('all_group_chats')).toHaveLength(1);

    // Each admin: the admin menu in their own chat; nobody else gets a chat scope.
    for (const admin of [bootstrapAdmin, promotedAdmin]) {
      const own = byScope('chat', admin);
      expect(own.map((c) => c.method)).toEqual(['setMyCommands']);
      expect(commandsOf(own[0])).toEqual(names(COMMAND_MENUS.admin));
    }
    expect(byScope('chat', user)).toEqual([]);
    expect(
      byScope('chat')
        .map((c) => scopeOf(c).chat_id)
        .sort(),
    ).toEqual([bootstrapAdmin, promotedAdmin].sort());
    // Admin commands appear in no scope but an admin's own chat.
    for (const call of menuCalls.filter((c) => scopeOf(c).type !== 'chat')) {
      for (const command of ADMIN_ONLY) expect(commandsOf(call)).not.toContain(command);
    }
  });

  it('keeps the bot starting when Telegram refuses the menu', async () => {
    const recorder = createTestBot({ db: t.database.db });
    recorder.failNext('setMyCommands', 400, 'Bad Request: too many commands');
    await startBot(recorder.bot, {
      mode: 'webhook',
      publicUrl: 'https://bot.example.com',
      webhookSecret: 'w'.repeat(40),
      logger: createLogger({ level: 'silent' }),
      startupTimeoutMs: 5_000,
    });
    expect(recorder.callsOf('setWebhook')).toHaveLength(1);
  });

  it('refreshes one person’s menu when their role changes (the role-changed notice)', async () => {
    const telegramId = 9_200_001;
    const { user } = await upsertTelegramUser(t.database.db, { telegramId, adminTelegramIds: [] });
    const recorder = createTestBot({ db: t.database.db });
    const process = notifyProcessor({
      db: t.database.db,
      botToken: TEST_BOT_TOKEN,
      apiRoot: 'https://api.telegram.invalid',
      fetch: recorder.fetch,
    });
    const notice = (role: 'admin' | 'user' | 'readonly') =>
      process({ data: { kind: 'role-changed', userId: user.id, role } } as Job<NotifyJob, NotifyJobResult>);

    expect(await notice('admin')).toEqual({ sent: true });
    const promoted = recorder.calls.find((c) => c.method === 'setMyCommands');
    expect(promoted?.payload.scope).toEqual({ type: 'chat', chat_id: telegramId });
    expect(commandsOf(promoted)).toEqual(names(COMMAND_MENUS.admin));

    recorder.calls.length = 0;
    expect(await notice('user')).toEqual({ sent: true });
    expect(recorder.calls.map((c) => c.method)).toEqual(['deleteMyCommands', 'sendMessage']);
    expect(recorder.calls[0]?.payload.scope).toEqual({ type: 'chat', chat_id: telegramId });

    // A failed menu update does not stop the notice itself.
    recorder.calls.length = 0;
    recorder.failNext('deleteMyCommands', 400, 'Bad Request: chat not found');
    expect(await notice('readonly')).toEqual({ sent: true });
  });

  it('refreshCommandMenu sets the admin menu for an admin and removes it for anyone else', async () => {
    const recorder = createTestBot({ db: t.database.db });
    await refreshCommandMenu(recorder.bot.api, TEST_BOT_INFO.id + 1, 'admin');
    await refreshCommandMenu(recorder.bot.api, TEST_BOT_INFO.id + 1, 'readonly');
    expect(recorder.calls.map((c) => [c.method, c.payload.scope])).toEqual([
      ['setMyCommands', { type: 'chat', chat_id: TEST_BOT_INFO.id + 1 }],
      ['deleteMyCommands', { type: 'chat', chat_id: TEST_BOT_INFO.id + 1 }],
    ]);
  });
});
