import { StrictMode, useCallback, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { type ApiError, createApiClient } from './api.ts';
import { App } from './app.tsx';
import { initTelegramSdk } from './sdk.ts';
import './styles.css';
import {
  applyTheme,
  type LaunchParams,
  parseInitDataUser,
  parseThemeParams,
  rememberTheme,
  retrieveLaunchParams,
  subscribeToThemeChanges,
} from './telegram.ts';

// Composition root of the Mini App: the only module that touches the page on load.
const root = document.documentElement;
const launchParams: LaunchParams | null = retrieveLaunchParams(window);
if (launchParams) applyTheme(launchParams.themeParams, root);

const onTheme = (theme: ReturnType<typeof parseThemeParams>) => {
  if (Object.keys(theme).length === 0) return;
  applyTheme(theme, root);
  rememberTheme(theme, window);
};

// Inside Telegram the official SDK drives the client (BackButton, MainButton, haptics, viewport); outside it,
// or when the SDK cannot start, telegram.ts's own bridge still follows the theme.
const sdkStarted = launchParams ? initTelegramSdk((raw) => onTheme(parseThemeParams(raw))) : false;
if (!sdkStarted) subscribeToThemeChanges(onTheme);

const sessionLostListeners = new Set<(error: ApiError) => void>();
const api = createApiClient({
  onSessionLost: (error) => {
    for (const listener of sessionLostListeners) listener(error);
  },
});
const subscribeSessionLost = (listener: (error: ApiError) => void) => {
  sessionLostListeners.add(listener);
  return () => {
    sessionLostListeners.delete(listener);
  };
};

function Root() {
  const [initData, setInitData] = useState(launchParams?.initDataRaw ?? null);
  // Development signer (outside Telegram): initData is kept in memory only, never in the URL or storage.
  const onDevInitData = useCallback((value: string) => setInitData(value), []);
  const user = initData ? parseInitDataUser(initData) : null;
  return (
    <App
      api={api}
      initData={initData}
      telegramUser={user}
      subscribeSessionLost={subscribeSessionLost}
      onDevInitData={launchParams ? undefined : onDevInitData}
    />
  );
}

const container = document.getElementById('root');
if (!container) throw new Error('index.html lost its #root element');
createRoot(container).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
