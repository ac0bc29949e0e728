/**
 * A small typed i18n: message keys checked at compile time, `{name}` placeholders, and the user's Telegram
 * `language_code` picking the locale with English as the fallback.
 */
import { en, type MessageKey } from './en.ts';

export type { MessageKey };
export type Messages = Record<MessageKey, string>;

/** Every locale the bot speaks. Add one by adding a file with all of English's keys. */
export const LOCALES: Record<string, Messages> = { en };
export const DEFAULT_LOCALE = 'en';

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

/** Picks the best locale for a Telegram `language_code` ("pt-br" → "pt" → "en"). */
export function pickLocale(languageCode: string | undefined): string {
  if (!languageCode) return DEFAULT_LOCALE;
  const code = languageCode.toLowerCase();
  if (LOCALES[code]) return code;
  const base = code.split('-')[0] ?? '';
  return LOCALES[base] ? base : DEFAULT_LOCALE;
}

/** A translator for one locale; a missing key falls back to English. */
export function translator(locale: string): Translate {
  const messages = LOCALES[locale] ?? en;
  return (key, params) => {
    const template = messages[key] ?? en[key];
    return template.replace(/\{(\w+)\}/g, (match, name: string) =>
      params && name in params ? String(params[name]) : match,
    );
  };
}
