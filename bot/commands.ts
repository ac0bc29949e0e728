/**
 * The command registry: every bot command, the permission it needs and where it works, in one list.
 * Enforcement (bot/middleware/command-guard.ts) and the per-role command menus (setMyCommands scopes) are
 * built from it, so a command cannot exist without declaring who may use it.
 */
import type { Api } from 'grammy';
import type { BotCommand, BotCommandScope, LanguageCode, Message } from 'grammy/types';
import type { UserRole } from '#shared/db/schema.ts';
import { LOCALES, type MessageKey, translator } from './i18n/index.ts';

/**
 * Who may run a command:
 * - `anyone`: also before the consent step (`/start`, `/help`, `/privacy`);
 * - `user`: anyone who has completed the consent step;
 * - `admin`: the product's admin role (plus MFA and a fresh step-up, bot/features/admin-step-up.ts);
 * - `chat_admin`: an administrator of the group the command is sent in (moderation commands).
 */
export type CommandPermission = 'anyone' | 'user' | 'admin' | 'chat_admin';

/** Where a command works: a private chat with the bot, groups only, or both. */
export type CommandChat = 'private' | 'group' | 'any';

export interface CommandSpec {
  command: string;
  /** The menu text (i18n key). */
  description: MessageKey;
  permission: CommandPermission;
  chat: CommandChat;
}

export const COMMANDS: readonly CommandSpec[] = [
  { command: 'start', description: 'commands.start', permission: 'anyone', chat: 'private' },
  { command: 'help', description: 'commands.help', permission: 'anyone', chat: 'private' },
  { command: 'privacy', description: 'commands.privacy', permission: 'anyone', chat: 'private' },
  { command: 'sessions', description: 'commands.sessions', permission: 'user', chat: 'private' },
  { command: 'apikeys', description: 'commands.apikeys', permission: 'user', chat: 'private' },
  { command: 'mfa', description: 'commands.mfa', permission: 'user', chat: 'private' },
  { command: 'mydata', description: 'commands.mydata', permission: 'user', chat: 'private' },
  { command: 'decisions', description: 'commands.decisions', permission: 'admin', chat: 'private' },
  { command: 'stats', description: 'commands.stats', permission: 'admin', chat: 'private' },
  { command: 'scan', description: 'commands.scan', permission: 'admin', chat: 'private' },
  { command: 'dsr', description: 'commands.dsr', permission: 'admin', chat: 'private' },
  { command: 'admin', description: 'commands.admin', permission: 'admin', chat: 'private' },
  { command: 'ban', description: 'commands.ban', permission: 'chat_admin', chat: 'group' },
  { command: 'mute', description: 'commands.mute', permission: 'chat_admin', chat: 'group' },
  { command: 'warn', description: 'commands.warn', permission: 'chat_admin', chat: 'group' },
];

/** The registry entry of a command name (lower case, without `/` or `@bot`), if any. */
export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((spec) => spec.command === name);
}

// ---------------------------------------------------------------------------------------------------------------
// Enforcement helpers (bot/middleware/command-guard.ts) and per-role menus (setMyCommands scopes)
// ---------------------------------------------------------------------------------------------------------------

/** The command a message starts with, as Telegram marks it (a bot_command entity at offset 0). */
export interface ParsedCommand {
  /** Lower case, without `/` and `@bot`. */
  name: string;
  /** False for `/cmd@OtherBot`: a command addressed to another bot in the same group is not ours. */
  forUs: boolean;
}

/** Parses the leading command of a text message, or undefined when it does not start with one. */
export function parseCommand(
  message: Pick<Message, 'text' | 'entities'> | undefined,
  botUsername: string,
): ParsedCommand | undefined {
  const text = message?.text;
  const entity = message?.entities?.[0];
  if (!text || entity?.type !== 'bot_command' || entity.offset !== 0) return undefined;
  const [name = '', target] = text.slice(1, entity.length).split('@');
  return {
    name: name.toLowerCase(),
    forUs: target === undefined || target.toLowerCase() === botUsername.toLowerCase(),
  };
}

/** Command names with this permission (e.g. what works before the consent step: `anyone`). */
export function commandsWithPermission(permission: CommandPermission): readonly string[] {
  return COMMANDS.filter((spec) => spec.permission === permission).map((spec) => spec.command);
}

/** Whether a command may be used in this kind of chat. */
export function worksIn(spec: CommandSpec, chatType: string): boolean {
  if (spec.chat === 'any') return true;
  return spec.chat === 'private' ? chatType === 'private' : chatType === 'group' || chatType === 'supergroup';
}

const inPrivate = (spec: CommandSpec) => spec.chat !== 'group';
const inGroups = (spec: CommandSpec) => spec.chat !== 'private';
const forEveryone = (spec: CommandSpec) => spec.permission === 'anyone' || spec.permission === 'user';

/**
 * The menus, by audience: everyone in a private chat; everyone in groups; group administrators (in groups); an
 * admin in their own private chat. A scope's list replaces the broader ones, so each includes what it inherits.
 */
export const COMMAND_MENUS = {
  private: COMMANDS.filter((spec) => inPrivate(spec) && forEveryone(spec)),
  group: COMMANDS.filter((spec) => inGroups(spec) && forEveryone(spec)),
  groupAdmin: COMMANDS.filter((spec) => inGroups(spec) && (forEveryone(spec) || spec.permission === 'chat_admin')),
  admin: COMMANDS.filter((spec) => inPrivate(spec) && (forEveryone(spec) || spec.permission === 'admin')),
} as const satisfies Record<string, readonly CommandSpec[]>;

type MenuApi = Pick<Api, 'setMyCommands' | 'deleteMyCommands'>;

function localised(specs: readonly CommandSpec[], locale: string): BotCommand[] {
  const t = translator(locale);
  return specs.map(({ command, description }) => ({ command, description: t(description) }));
}

const languageOf = (locale: string) => (locale === 'en' ? {} : { language_code: locale as LanguageCode });

/** Sets `specs` for `scope` in every locale; an empty list deletes the scope's menu (the broader one shows). */
async function setMenu(
  api: MenuApi,
  scope: BotCommandScope,
  specs: readonly CommandSpec[],
  locales: readonly string[],
): Promise<void> {
  for (const locale of locales) {
    if (specs.length === 0) await api.deleteMyCommands({ scope, ...languageOf(locale) });
    else await api.setMyCommands(localised(specs, locale), { scope, ...languageOf(locale) });
  }
}

/**
 * Registers every menu at start: the default scope is cleared (so groups never fall back to private commands),
 * private chats get the commands for everyone, groups theirs, group administrators the moderation commands,
 * and each admin the admin commands in their own private chat only.
 */
export async function setCommandMenus(
  api: MenuApi,
  input: { adminTelegramIds: readonly number[]; locales?: readonly string[] },
): Promise<void> {
  const locales = input.locales ?? Object.keys(LOCALES);
  await setMenu(api, { type: 'default' }, [], locales);
  await setMenu(api, { type: 'all_private_chats' }, COMMAND_MENUS.private, locales);
  await setMenu(api, { type: 'all_group_chats' }, COMMAND_MENUS.group, locales);
  await setMenu(api, { type: 'all_chat_administrators' }, COMMAND_MENUS.groupAdmin, locales);
  for (const chatId of new Set(input.adminTelegramIds)) {
    await setMenu(api, { type: 'chat', chat_id: chatId }, COMMAND_MENUS.admin, locales);
  }
}

/**
 * After a role change: an admin gets the admin menu in their own private chat; anyone else loses any menu set
 * for their chat (the private-chat menu for everyone shows again).
 */
export async function refreshCommandMenu(
  api: MenuApi,
  telegramId: number,
  role: UserRole,
  locales: readonly string[] = Object.keys(LOCALES),
): Promise<void> {
  await setMenu(api, { type: 'chat', chat_id: telegramId }, role === 'admin' ? COMMAND_MENUS.admin : [], locales);
}
