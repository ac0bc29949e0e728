/**
 * The Mini App reads everything Telegram gives it from a URL hash that any link can forge: the parser must
 * survive hostile or malformed input without throwing, let nothing but hex colours reach CSS, and keep the
 * initData byte-for-byte as Telegram signed it so the API can still verify it.
 */
import { isValid, sign } from '@telegram-apps/init-data-node';
import { describe, expect, it } from 'vitest';
import {
  completeTheme,
  isDarkColor,
  normalizeColor,
  parseBridgeEvent,
  parseInitDataUser,
  parseLaunchParams,
  parseThemeParams,
  themeCssVariables,
} from '../../webapp/src/telegram.ts';

const BOT_TOKEN = '1234567890:AAtest-token-for-unit-tests';

// Telegram Desktop's night theme, as the client sends it in tgWebAppThemeParams.
const NIGHT_THEME = {
  bg_color: '#17212b',
  text_color: '#f5f5f5',
  hint_color: '#708499',
  link_color: '#6ab3f3',
  button_color: '#5288c1',
  button_text_color: '#ffffff',
  secondary_bg_color: '#232e3c',
  header_bg_color: '#17212b',
  accent_text_color: '#6ab2f2',
  section_bg_color: '#17212b',
  section_header_text_color: '#6ab3f3',
  subtitle_text_color: '#708499',
  destructive_text_color: '#ec3942',
};

// The launch hash in the shape Telegram Desktop produces (docs.telegram-mini-apps.com, "Launch Parameters"):
// initData is itself a query string, so it is percent-encoded twice inside the hash.
const DESKTOP_SAMPLE_HASH =
  '#tgWebAppData=query_id%3DAAHdF6IQAAAAAN0XohDhrOrc%26user%3D%257B%2522id%2522%253A279058397%252C%2522first_name%2522%253A%2522Vladislav%2522%252C%2522last_name%2522%253A%2522Kibenko%2522%252C%2522username%2522%253A%2522vdkfrost%2522%252C%2522language_code%2522%253A%2522ru%2522%252C%2522is_premium%2522%253Atrue%257D%26auth_date%3D1662771648%26hash%3Dc501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2' +
  '&tgWebAppVersion=6.2&tgWebAppPlatform=tdesktop' +
  '&tgWebAppThemeParams=%7B%22bg_color%22%3A%22%2317212b%22%2C%22button_color%22%3A%22%235288c1%22%2C%22button_text_color%22%3A%22%23ffffff%22%2C%22hint_color%22%3A%22%23708499%22%2C%22link_color%22%3A%22%236ab3f3%22%2C%22secondary_bg_color%22%3A%22%23232e3c%22%2C%22text_color%22%3A%22%23f5f5f5%22%7D';

/** What a Telegram client puts after `#`: every value encoded with encodeURIComponent. */
function launchHash(params: Record<string, string>): string {
  return `#${Object.entries(params)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join('&')}`;
}

describe('parseLaunchParams', () => {
  it('reads initData, user, platform, version and theme from a Telegram Desktop hash', () => {
    const params = parseLaunchParams(DESKTOP_SAMPLE_HASH);
    expect(params).not.toBeNull();
    expect(params?.platform).toBe('tdesktop');
    expect(params?.version).toBe('6.2');
    expect(params?.initDataRaw).toBe(
      'query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%7D&auth_date=1662771648&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2',
    );
    expect(params?.user).toEqual({
      id: 279058397,
      firstName: 'Vladislav',
      lastName: 'Kibenko',
      username: 'vdkfrost',
      languageCode: 'ru',
    });
    expect(params?.themeParams).toEqual({
      bg_color: '#17212b',
      button_color: '#5288c1',
      button_text_color: '#ffffff',
      hint_color: '#708499',
      link_color: '#6ab3f3',
      secondary_bg_color: '#232e3c',
      text_color: '#f5f5f5',
    });
  });

  it('keeps initData exactly as signed, so the server-side check still passes after the round trip', () => {
    const initData = sign(
      {
        query_id: 'AAHdF6IQAAAAAN0XohDhrOrc',
        user: { id: 42, first_name: 'Алиса', last_name: "O'Neil & Co", username: 'alice', language_code: 'ru' },
      },
      BOT_TOKEN,
      new Date(),
    );
    const params = parseLaunchParams(launchHash({ tgWebAppData: initData, tgWebAppVersion: '8.0' }));
    expect(params?.initDataRaw).toBe(initData);
    expect(isValid(params?.initDataRaw ?? '', BOT_TOKEN)).toBe(true);
    expect(params?.user?.firstName).toBe('Алиса');
    expect(params?.user?.lastName).toBe("O'Neil & Co");
  });

  it('decodes URL encoding: percent escapes, UTF-8 and + as space (URLSearchParams, as telegram-web-app.js)', () => {
    const user = JSON.stringify({ id: 7, first_name: 'Zoë 🦊' });
    const initData = `user=${encodeURIComponent(user)}&auth_date=1&hash=ab`;
    const percent = parseLaunchParams(launchHash({ tgWebAppData: initData, tgWebAppPlatform: 'web k' }));
    expect(percent?.user?.firstName).toBe('Zoë 🦊');
    expect(percent?.platform).toBe('web k');

    const plus = parseLaunchParams('#tgWebAppPlatform=web+k&tgWebAppVersion=7.10');
    expect(plus?.platform).toBe('web k');
    expect(plus?.version).toBe('7.10');
  });

  it('accepts the hash with or without the leading #, and after a hash route', () => {
    const hash = launchHash({ tgWebAppVersion: '8.0', tgWebAppPlatform: 'ios' });
    expect(parseLaunchParams(hash)?.platform).toBe('ios');
    expect(parseLaunchParams(hash.slice(1))?.platform).toBe('ios');
    expect(parseLaunchParams(`#/settings?${hash.slice(1)}`)?.platform).toBe('ios');
  });

  it('returns null when the page was not opened by Telegram', () => {
    expect(parseLaunchParams('')).toBeNull();
    expect(parseLaunchParams('#')).toBeNull();
    expect(parseLaunchParams('#/settings/sessions')).toBeNull();
    expect(parseLaunchParams('#foo=bar')).toBeNull();
  });

  it('does not throw on malformed theme JSON and still reads the rest', () => {
    const hash = '#tgWebAppThemeParams=%7B%22bg_color%22%3A%22%23000&tgWebAppVersion=8.0&tgWebAppPlatform=android';
    expect(() => parseLaunchParams(hash)).not.toThrow();
    const params = parseLaunchParams(hash);
    expect(params?.themeParams).toEqual({});
    expect(params?.version).toBe('8.0');
    expect(params?.platform).toBe('android');
  });

  it('does not throw on a malformed percent escape', () => {
    expect(() => parseLaunchParams('#tgWebAppData=%E0%A4%A&tgWebAppVersion=8.0')).not.toThrow();
    expect(parseLaunchParams('#tgWebAppData=%E0%A4%A&tgWebAppVersion=8.0')?.version).toBe('8.0');
  });

  it('gives no user for initData without one or with a broken one', () => {
    expect(parseLaunchParams(launchHash({ tgWebAppData: 'auth_date=1&hash=ab' }))?.user).toBeNull();
    expect(parseLaunchParams(launchHash({ tgWebAppData: 'user=%7Bnot-json&hash=ab' }))?.user).toBeNull();
    expect(parseLaunchParams(launchHash({ tgWebAppData: '' }))?.initDataRaw).toBeNull();
  });
});

describe('parseThemeParams', () => {
  it('parses Telegram theme JSON into lowercase #rrggbb colours', () => {
    expect(parseThemeParams(JSON.stringify(NIGHT_THEME))).toEqual(NIGHT_THEME);
    expect(parseThemeParams('{"bg_color":"#FFF","text_color":"#1A2B3C"}')).toEqual({
      bg_color: '#ffffff',
      text_color: '#1a2b3c',
    });
  });

  it('accepts an object too (theme_changed events, an injected Telegram.WebApp)', () => {
    expect(parseThemeParams({ bg_color: '#101010' })).toEqual({ bg_color: '#101010' });
  });

  it('returns {} for anything that is not a JSON object, without throwing', () => {
    for (const input of ['', '{', 'null', '[]', '"#fff"', '42', 'undefined', null, undefined, 7, ['#fff']]) {
      expect(() => parseThemeParams(input)).not.toThrow();
      expect(parseThemeParams(input)).toEqual({});
    }
  });

  it('drops values that could smuggle CSS and keys that are not colour names', () => {
    const theme = parseThemeParams({
      bg_color: 'red; background: url(https://evil.example/x)',
      text_color: '#fff;}body{display:none',
      hint_color: 'rgb(1,2,3)',
      link_color: 12345,
      'x-evil; --a': '#ffffff',
      __proto__color: '#ffffff',
      button_color: '#5288c1',
      bottom_bar_bg_color: '#222222',
    });
    expect(theme).toEqual({ button_color: '#5288c1', bottom_bar_bg_color: '#222222' });
  });

  it('normalizes colours', () => {
    expect(normalizeColor('#AbC')).toBe('#aabbcc');
    expect(normalizeColor('#17212B')).toBe('#17212b');
    expect(normalizeColor('#12345')).toBeNull();
    expect(normalizeColor('17212b')).toBeNull();
  });
});

describe('theme to CSS variables', () => {
  it('maps every theme key to --tg-theme-* with dashes', () => {
    const variables = themeCssVariables(NIGHT_THEME);
    expect(variables['--tg-theme-bg-color']).toBe('#17212b');
    expect(variables['--tg-theme-secondary-bg-color']).toBe('#232e3c');
    expect(variables['--tg-theme-section-header-text-color']).toBe('#6ab3f3');
    expect(variables['--tg-theme-destructive-text-color']).toBe('#ec3942');
    expect(Object.keys(variables)).toHaveLength(13);
  });

  it('fills what old clients do not send from what they do, keeping a dark theme dark', () => {
    const old = { bg_color: '#17212b', text_color: '#f5f5f5', hint_color: '#708499', link_color: '#6ab3f3' };
    const full = completeTheme(old);
    expect(full.section_bg_color).toBe('#17212b');
    expect(full.header_bg_color).toBe('#17212b');
    expect(full.accent_text_color).toBe('#6ab3f3');
    expect(full.section_header_text_color).toBe('#708499');
    expect(isDarkColor(full.secondary_bg_color ?? '#ffffff')).toBe(true);
    expect(full.secondary_bg_color).not.toBe('#17212b');
  });

  it('leaves a theme without bg_color alone (the stylesheet defaults apply)', () => {
    expect(themeCssVariables({ link_color: '#112233' })).toEqual({ '--tg-theme-link-color': '#112233' });
    expect(themeCssVariables({})).toEqual({});
  });

  it('tells dark from light', () => {
    expect(isDarkColor('#17212b')).toBe(true);
    expect(isDarkColor('#000000')).toBe(true);
    expect(isDarkColor('#ffffff')).toBe(false);
    expect(isDarkColor('#efeff4')).toBe(false);
  });
});

describe('parseInitDataUser', () => {
  it('extracts the user and ignores fields it does not know', () => {
    const raw = `user=${encodeURIComponent('{"id":1,"first_name":"Ann","is_premium":true,"photo_url":"https://t.me/i/userpic/1.jpg"}')}`;
    expect(parseInitDataUser(raw)).toEqual({
      id: 1,
      firstName: 'Ann',
      lastName: null,
      username: null,
      languageCode: null,
    });
  });

  it('rejects users without a numeric id or a string first name', () => {
    expect(parseInitDataUser(`user=${encodeURIComponent('{"id":"1","first_name":"Ann"}')}`)).toBeNull();
    expect(parseInitDataUser(`user=${encodeURIComponent('{"id":1}')}`)).toBeNull();
    expect(parseInitDataUser(`user=${encodeURIComponent('[1]')}`)).toBeNull();
    expect(parseInitDataUser('auth_date=1')).toBeNull();
  });
});

describe('parseBridgeEvent', () => {
  it('reads { eventType, eventData } from JSON strings and objects', () => {
    const message = { eventType: 'theme_changed', eventData: { theme_params: { bg_color: '#000000' } } };
    expect(parseBridgeEvent(JSON.stringify(message))).toEqual(message);
    expect(parseBridgeEvent(message)).toEqual(message);
  });

  it('ignores messages that are not bridge events', () => {
    for (const data of ['not json', '{"eventType":1}', '{}', null, 42, { type: 'webpackOk' }]) {
      expect(parseBridgeEvent(data)).toBeNull();
    }
  });
});
