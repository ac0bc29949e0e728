/**
 * A small typed bridge to the Telegram client hosting this Mini App.
 *
 * We do not load telegram.org's telegram-web-app.js: the server's CSP allows same-origin scripts only.
 * Instead we implement the documented protocol ourselves (https://docs.telegram-mini-apps.com/platform/launch-parameters
 * and .../platform/methods): launch parameters arrive in `location.hash`, we talk to the client through
 * `TelegramWebviewProxy.postEvent` (native apps) or `postMessage` to the parent frame (Telegram Web), and the
 * client answers with `{ eventType, eventData }` messages.
 *
 * The parsing half is pure (string in, data out) so it is unit-tested in node; the DOM half takes the window
 * as a parameter.
 */

/** Theme keys Telegram sends (Bot API `ThemeParams`). Clients may add more; unknown `*_color` keys pass through. */
export const THEME_KEYS = [
  'bg_color',
  'text_color',
  'hint_color',
  'link_color',
  'button_color',
  'button_text_color',
  'secondary_bg_color',
  'header_bg_color',
  'accent_text_color',
  'section_bg_color',
  'section_header_text_color',
  'subtitle_text_color',
  'destructive_text_color',
] as const;

export type ThemeKey = (typeof THEME_KEYS)[number];

/** Colours as lowercase `#rrggbb`, keyed by Telegram's snake_case names. */
export type ThemeParams = Partial<Record<ThemeKey, string>> & { [key: string]: string | undefined };

/** The user Telegram puts in initData. Unverified: display only until the API has validated the initData. */
export interface TelegramUser {
  id: number;
  firstName: string;
  lastName: string | null;
  username: string | null;
  languageCode: string | null;
}

export interface LaunchParams {
  /** initData exactly as Telegram signed it; sent to `POST /api/v1/auth/telegram`, which checks the hash. */
  initDataRaw: string | null;
  /** Parsed from `initDataRaw` for display; never trusted for authorisation. */
  user: TelegramUser | null;
  themeParams: ThemeParams;
  platform: string | null;
  version: string | null;
}

export interface BridgeEvent {
  eventType: string;
  eventData: unknown;
}

/** Telegram Web hosts Mini Apps in an iframe on this origin; postMessage goes to it and nowhere else. */
export const TELEGRAM_WEB_ORIGIN = 'https://web.telegram.org';

/** sessionStorage keys: the launch hash survives reloads and in-app navigation that drops the hash. */
export const STORAGE_KEYS = {
  launchHash: 'tg-launch-params',
  themeParams: 'tg-theme-params',
} as const;

const COLOR_RE = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
// Theme keys become CSS custom property names: keep them to a safe, bounded alphabet.
const THEME_KEY_RE = /^[a-z][a-z0-9_]{0,63}_color$/;
const MAX_THEME_KEYS = 64;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `#abc` → `#aabbcc`, lowercase; anything that is not a hex colour → null (so nothing odd reaches CSS). */
export function normalizeColor(value: unknown): string | null {
  if (typeof value !== 'string' || !COLOR_RE.test(value)) return null;
  const hex = value.slice(1).toLowerCase();
  return hex.length === 3
    ? `#${hex
        .split('')
        .map((c) => c + c)
        .join('')}`
    : `#${hex}`;
}

/**
 * Theme params from the JSON string of `tgWebAppThemeParams` or from an object (theme_changed, WebApp).
 * Malformed input yields `{}`; invalid entries are dropped one by one.
 */
export function parseThemeParams(input: unknown): ThemeParams {
  const value = typeof input === 'string' ? tryParseJson(input) : input;
  const theme: ThemeParams = {};
  if (!isRecord(value)) return theme;
  let count = 0;
  for (const [key, raw] of Object.entries(value)) {
    if (count >= MAX_THEME_KEYS) break;
    const color = normalizeColor(raw);
    if (color === null || !THEME_KEY_RE.test(key)) continue;
    theme[key] = color;
    count += 1;
  }
  return theme;
}

/** The `user` field of initData, or null when absent or malformed. */
export function parseInitDataUser(initDataRaw: string): TelegramUser | null {
  const json = new URLSearchParams(initDataRaw).get('user');
  if (json === null) return null;
  const user = tryParseJson(json);
  if (!isRecord(user) || typeof user.id !== 'number' || typeof user.first_name !== 'string') return null;
  const optional = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  return {
    id: user.id,
    firstName: user.first_name,
    lastName: optional(user.last_name),
    username: optional(user.username),
    languageCode: optional(user.language_code),
  };
}

function launchQuery(hash: string): URLSearchParams {
  let query = hash.startsWith('#') ? hash.slice(1) : hash;
  // Apps with hash routing receive `#/route?tgWebAppData=...`: the params follow the `?`.
  const questionMark = query.indexOf('?');
  if (questionMark !== -1 && !query.slice(0, questionMark).includes('=')) query = query.slice(questionMark + 1);
  return new URLSearchParams(query);
}

/**
 * Launch params from a `location.hash` (`#tgWebAppData=...&tgWebAppThemeParams=...`, URL-encoded).
 * Returns null when the hash carries no Telegram launch params (the app was opened outside Telegram).
 * Never throws.
 */
export function parseLaunchParams(hash: string): LaunchParams | null {
  const params = launchQuery(hash);
  const initDataRaw = params.get('tgWebAppData');
  const themeJson = params.get('tgWebAppThemeParams');
  const platform = params.get('tgWebAppPlatform');
  const version = params.get('tgWebAppVersion');
  if (initDataRaw === null && themeJson === null && platform === null && version === null) return null;
  return {
    initDataRaw: initDataRaw === '' ? null : initDataRaw,
    user: initDataRaw ? parseInitDataUser(initDataRaw) : null,
    themeParams: themeJson === null ? {} : parseThemeParams(themeJson),
    platform: platform || null,
    version: version || null,
  };
}

/** A message from the Telegram client (`{ eventType, eventData }`, as a JSON string or an object), or null. */
export function parseBridgeEvent(data: unknown): BridgeEvent | null {
  const value = typeof data === 'string' ? tryParseJson(data) : data;
  if (!isRecord(value) || typeof value.eventType !== 'string') return null;
  return { eventType: value.eventType, eventData: value.eventData };
}

function parseHex(color: string): [number, number, number] {
  const n = Number.parseInt(color.slice(1), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/** True for colours a reader would call dark (relative luminance below one half). */
export function isDarkColor(color: string): boolean {
  const [r, g, b] = parseHex(color);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255 < 0.5;
}

/** Mixes `b` into `a` by `amount` (0..1); both `#rrggbb`. */
function mixColors(a: string, b: string, amount: number): string {
  const ca = parseHex(a);
  const cb = parseHex(b);
  const channel = (i: 0 | 1 | 2) => Math.round(ca[i] + (cb[i] - ca[i]) * amount);
  return `#${[channel(0), channel(1), channel(2)].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Fills the keys older clients do not send (Telegram added most of them over time) from the ones they do,
 * so a dark theme never gets light defaults for, say, `section_bg_color`. Without `bg_color` the theme is
 * returned as is and the stylesheet's defaults cover the rest.
 */
export function completeTheme(theme: ThemeParams): ThemeParams {
  const bg = theme.bg_color;
  if (bg === undefined) return { ...theme };
  const dark = isDarkColor(bg);
  const text = theme.text_color ?? (dark ? '#ffffff' : '#000000');
  const hint = theme.hint_color ?? mixColors(bg, text, 0.5);
  const link = theme.link_color ?? (dark ? '#6ab3f3' : '#2481cc');
  return {
    ...theme,
    text_color: text,
    hint_color: hint,
    link_color: link,
    button_color: theme.button_color ?? link,
    button_text_color: theme.button_text_color ?? '#ffffff',
    secondary_bg_color: theme.secondary_bg_color ?? mixColors(bg, text, 0.06),
    header_bg_color: theme.header_bg_color ?? bg,
    accent_text_color: theme.accent_text_color ?? link,
    section_bg_color: theme.section_bg_color ?? bg,
    section_header_text_color: theme.section_header_text_color ?? hint,
    subtitle_text_color: theme.subtitle_text_color ?? hint,
    destructive_text_color: theme.destructive_text_color ?? (dark ? '#ec3942' : '#ff3b30'),
  };
}

/** `{ bg_color: '#fff' }` → `{ '--tg-theme-bg-color': '#ffffff' }` (the names telegram-web-app.js uses). */
export function themeCssVariables(theme: ThemeParams): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const [key, color] of Object.entries(completeTheme(theme))) {
    if (color !== undefined) variables[`--tg-theme-${key.replaceAll('_', '-')}`] = color;
  }
  return variables;
}

// ---- DOM side ----

interface WebviewProxy {
  postEvent(eventType: string, eventData: string): void;
}

interface InjectedWebApp {
  initData?: unknown;
  themeParams?: unknown;
  platform?: unknown;
  version?: unknown;
}

/** The globals a Telegram client may inject; all optional, all untrusted in shape. */
export type TelegramHostWindow = Window & {
  Telegram?: {
    WebApp?: InjectedWebApp;
    WebView?: { receiveEvent?: (eventType: string, eventData: unknown) => void };
  };
  TelegramWebviewProxy?: WebviewProxy;
};

function readStorage(win: TelegramHostWindow, key: string): string | null {
  try {
    return win.sessionStorage.getItem(key);
  } catch {
    // Storage can be disabled (privacy modes, sandboxed frames); the hash alone still works.
    return null;
  }
}

function writeStorage(win: TelegramHostWindow, key: string, value: string): void {
  try {
    win.sessionStorage.setItem(key, value);
  } catch {
    // Same as above: losing the reload fallback is acceptable.
  }
}

function fromInjectedWebApp(webApp: InjectedWebApp): LaunchParams | null {
  const initDataRaw = typeof webApp.initData === 'string' && webApp.initData !== '' ? webApp.initData : null;
  const version = typeof webApp.version === 'string' ? webApp.version : null;
  if (initDataRaw === null && version === null) return null;
  return {
    initDataRaw,
    user: initDataRaw ? parseInitDataUser(initDataRaw) : null,
    themeParams: parseThemeParams(webApp.themeParams),
    platform: typeof webApp.platform === 'string' ? webApp.platform : null,
    version,
  };
}

/**
 * Launch params for this page: from `location.hash` (remembered in sessionStorage), else from what a reload
 * left in sessionStorage, else from an injected `window.Telegram.WebApp`. Null outside Telegram.
 */
export function retrieveLaunchParams(win: TelegramHostWindow = window): LaunchParams | null {
  const fromHash = parseLaunchParams(win.location.hash);
  if (fromHash) {
    writeStorage(win, STORAGE_KEYS.launchHash, win.location.hash);
    // A fresh launch brings a fresh theme: forget live updates from a previous one.
    writeStorage(win, STORAGE_KEYS.themeParams, JSON.stringify(fromHash.themeParams));
    return fromHash;
  }
  const storedHash = readStorage(win, STORAGE_KEYS.launchHash);
  const fromStorage = storedHash === null ? null : parseLaunchParams(storedHash);
  if (fromStorage) {
    const storedTheme = readStorage(win, STORAGE_KEYS.themeParams);
    if (storedTheme !== null) fromStorage.themeParams = parseThemeParams(storedTheme);
    return fromStorage;
  }
  const injected = win.Telegram?.WebApp;
  return injected ? fromInjectedWebApp(injected) : null;
}

/** Remembers a theme received live, so a reload inside the same Telegram session keeps it. */
export function rememberTheme(theme: ThemeParams, win: TelegramHostWindow = window): void {
  writeStorage(win, STORAGE_KEYS.themeParams, JSON.stringify(theme));
}

/**
 * Writes the theme to `--tg-theme-*` custom properties on `root` (usually `<html>`), plus `color-scheme`
 * so scrollbars and form controls follow. An empty theme leaves the stylesheet's defaults in place.
 */
export function applyTheme(theme: ThemeParams, root: HTMLElement): void {
  const variables = themeCssVariables(theme);
  for (const [name, color] of Object.entries(variables)) root.style.setProperty(name, color);
  const bg = theme.bg_color;
  if (bg !== undefined) {
    const scheme = isDarkColor(bg) ? 'dark' : 'light';
    root.style.colorScheme = scheme;
    root.dataset.colorScheme = scheme;
  }
}

function isInIframe(win: TelegramHostWindow): boolean {
  try {
    return win.parent !== win;
  } catch {
    return true;
  }
}

/**
 * Sends a method to the Telegram client (`web_app_ready`, `web_app_expand`, ...). Returns false when there
 * is no client to talk to (opened in a plain browser tab).
 */
export function postEvent(
  eventType: string,
  eventData: Record<string, unknown> = {},
  win: TelegramHostWindow = window,
): boolean {
  const proxy = win.TelegramWebviewProxy;
  if (proxy && typeof proxy.postEvent === 'function') {
    proxy.postEvent(eventType, JSON.stringify(eventData));
    return true;
  }
  if (isInIframe(win)) {
    // A fixed target origin: launch data and events never leak to a page that framed us.
    win.parent.postMessage(JSON.stringify({ eventType, eventData }), TELEGRAM_WEB_ORIGIN);
    return true;
  }
  return false;
}

/**
 * Calls `listener` with the new theme whenever the client sends `theme_changed`. Listens to messages from
 * the parent frame (Telegram Web) and, when nothing else claimed it, to `Telegram.WebView.receiveEvent`
 * (native clients call it). Returns an unsubscribe function.
 */
export function subscribeToThemeChanges(
  listener: (theme: ThemeParams) => void,
  win: TelegramHostWindow = window,
): () => void {
  const handle = (event: BridgeEvent | null) => {
    if (event?.eventType !== 'theme_changed' || !isRecord(event.eventData)) return;
    const theme = parseThemeParams(event.eventData.theme_params);
    if (Object.keys(theme).length > 0) listener(theme);
  };
  const onMessage = (event: MessageEvent) => {
    // Only the frame that hosts us speaks for Telegram (at top level, parent is the window itself).
    if (event.source !== win.parent) return;
    handle(parseBridgeEvent(event.data));
  };
  win.addEventListener('message', onMessage);

  const telegram = win.Telegram ?? {};
  const webView = telegram.WebView ?? {};
  const ownsReceiver = webView.receiveEvent === undefined;
  if (ownsReceiver) {
    webView.receiveEvent = (eventType, eventData) => handle({ eventType, eventData });
    telegram.WebView = webView;
    win.Telegram = telegram;
  }
  return () => {
    win.removeEventListener('message', onMessage);
    if (ownsReceiver) delete webView.receiveEvent;
  };
}
