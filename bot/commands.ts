/**
 * The command registry: every bot command, the permission it needs and where it works, in one list.
 * Enforcement (bot/middleware/command-guard.ts) and the per-role command menus (setMyCommands scopes) are
 * built from it, so a command cannot exist without declaring who may use it.
 */
import type { MessageKey } from './i18n/index.ts';

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
];

/** The registry entry of a command name (lower case, without `/` or `@bot`), if any. */
export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((spec) => spec.command === name);
}
