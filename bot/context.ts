/** The bot's context: grammY's plus the translator and the deps features need. */
import type { Context as BaseContext } from 'grammy';
import type { Translate } from './i18n/index.ts';

export interface ContextFlavor {
  /** Translates a message key into the user's language. */
  t: Translate;
  locale: string;
}

export type Context = BaseContext & ContextFlavor;
