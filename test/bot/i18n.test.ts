/** Every locale has every key, placeholders fill in, and Telegram's language codes pick the right locale. */
import { describe, expect, it } from 'vitest';
import { en } from '#bot/i18n/en.ts';
import { DEFAULT_LOCALE, LOCALES, pickLocale, translator } from '#bot/i18n/index.ts';

describe('i18n', () => {
  it('has every English key in every locale, and no extra ones', () => {
    for (const [locale, messages] of Object.entries(LOCALES)) {
      expect(Object.keys(messages).sort(), locale).toEqual(Object.keys(en).sort());
      for (const [key, text] of Object.entries(messages)) expect(text.trim(), `${locale}:${key}`).not.toBe('');
    }
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    const t = translator('en');
    expect(t('start.welcome_back', { name: 'Ada' })).toBe('Welcome back, Ada. Send /help to see what I can do.');
    expect(t('start.welcome_back')).toContain('{name}');
  });

  it('falls back from a regional or unknown code to a known locale', () => {
    expect(pickLocale(undefined)).toBe(DEFAULT_LOCALE);
    expect(pickLocale('EN-gb')).toBe('en');
    expect(pickLocale('xx')).toBe('en');
  });
});
