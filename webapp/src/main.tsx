import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import './styles.css';
import { applyTheme, postEvent, rememberTheme, retrieveLaunchParams, subscribeToThemeChanges } from './telegram.ts';

// Composition root of the Mini App: the only module that touches the page on load.
const root = document.documentElement;
const launchParams = retrieveLaunchParams(window);
if (launchParams) applyTheme(launchParams.themeParams, root);

subscribeToThemeChanges((theme) => {
  applyTheme(theme, root);
  rememberTheme(theme, window);
});

function signalReady(): void {
  // Telegram shows its placeholder until `web_app_ready`; `web_app_expand` opens the app at full height.
  postEvent('web_app_ready');
  postEvent('web_app_expand');
}

const container = document.getElementById('root');
if (!container) throw new Error('index.html lost its #root element');
createRoot(container).render(
  <StrictMode>
    <App launchParams={launchParams} onReady={signalReady} />
  </StrictMode>,
);
