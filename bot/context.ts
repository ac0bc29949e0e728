/** The bot's context: grammY's plus the translator and the deps features need. */
import type { ConversationFlavor } from '@grammyjs/conversations';
import type { Context as BaseContext } from 'grammy';
import type { Translate } from './i18n/index.ts';

export interface ContextFlavor {
  /** Translates a message key into the user's language. */
  t: Translate;
  locale: string;
}

/** `ctx.conversation` (enter/exit) exists when the bot was built with Redis (bot/conversations). */
export type Context = ConversationFlavor<BaseContext & ContextFlavor>;
