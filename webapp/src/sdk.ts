/**
 * The Telegram client's controls through the official SDK (@telegram-apps/sdk, bundled: no third-party
 * script). Every call is a no-op outside Telegram or on a client too old for it, so pages never need to ask.
 * Launch parameters and the theme stay in telegram.ts (validated and unit-tested); this module drives the
 * BackButton, MainButton, haptics, viewport and the ready signal.
 */
import {
  backButton,
  hapticFeedback,
  init,
  mainButton,
  miniApp,
  on,
  openLink as sdkOpenLink,
  viewport,
} from '@telegram-apps/sdk';
import { useEffect, useRef } from 'react';
import { postEvent, retrieveLaunchParams } from './telegram.ts';

let initialised = false;

/** Calls an SDK function only when the client supports it; SDK errors never break a page. */
function safely(action: () => void): void {
  try {
    action();
  } catch {
    // Unsupported method or no client: the app works without it.
  }
}

/**
 * Starts the SDK inside Telegram. `acceptCustomStyles: false`: the SDK would otherwise create a `<style>`
 * element for styles the host sends, which the strict CSP (no inline style) forbids.
 */
export function initTelegramSdk(onThemeChanged: (themeParams: unknown) => void): boolean {
  if (initialised) return true;
  try {
    init({ acceptCustomStyles: false });
    initialised = true;
  } catch {
    // E.g. a framed app whose storage the browser denies: main.tsx falls back to telegram.ts's bridge.
    return false;
  }
  // The SDK listens to the parent frame and to Telegram.WebView.receiveEvent; telegram.ts validates the colours.
  safely(() => on('theme_changed', (payload) => onThemeChanged(payload.theme_params)));
  safely(() => backButton.mount.ifAvailable());
  safely(() => mainButton.mount.ifAvailable());
  safely(() => miniApp.mountSync.ifAvailable());
  safely(() => {
    if (!viewport.mount.isAvailable()) return;
    void viewport
      .mount()
      .then(() => {
        viewport.expand.ifAvailable();
        // --tg-viewport-* custom properties (height, safe areas) through the CSSOM, which the CSP allows.
        if (!viewport.isCssVarsBound()) viewport.bindCssVars.ifAvailable();
      })
      .catch(() => undefined);
  });
  return true;
}

/** Tells Telegram the app has drawn its first screen (it shows its placeholder until then). */
export function signalReady(): void {
  if (initialised) {
    safely(() => miniApp.ready.ifAvailable());
    return;
  }
  // Without the SDK (it could not start), the documented protocol still says "ready" to the client.
  if (retrieveLaunchParams(window)) {
    postEvent('web_app_ready');
    postEvent('web_app_expand');
  }
}

export const haptic = {
  impact(style: 'light' | 'medium' | 'heavy' = 'light'): void {
    if (initialised) safely(() => hapticFeedback.impactOccurred.ifAvailable(style));
  },
  notify(type: 'success' | 'warning' | 'error'): void {
    if (initialised) safely(() => hapticFeedback.notificationOccurred.ifAvailable(type));
  },
  selection(): void {
    if (initialised) safely(() => hapticFeedback.selectionChanged.ifAvailable());
  },
};

/** Opens an external page (an OAuth provider) in Telegram's browser, or a new tab outside Telegram. */
export function openExternal(url: string): void {
  if (initialised && sdkOpenLink.isAvailable()) {
    safely(() => sdkOpenLink(url));
    return;
  }
  window.open(url, '_blank', 'noopener,noreferrer');
}

/** Shows Telegram's BackButton while `onBack` is set; a click calls the latest `onBack`. */
export function useBackButton(onBack: (() => void) | null): void {
  const latest = useRef(onBack);
  latest.current = onBack;
  const visible = onBack !== null;
  useEffect(() => {
    if (!initialised || !visible) return;
    const handler = () => latest.current?.();
    let off: (() => void) | undefined;
    safely(() => {
      backButton.show.ifAvailable();
      off = backButton.onClick(handler);
    });
    return () => {
      off?.();
      safely(() => backButton.hide.ifAvailable());
    };
  }, [visible]);
}

export interface MainButtonSpec {
  text: string;
  onClick: () => void;
  disabled?: boolean;
  loading?: boolean;
}

/** Telegram's MainButton for the page's primary action while `spec` is set. Returns whether it is shown. */
export function useMainButton(spec: MainButtonSpec | null): boolean {
  const latest = useRef(spec);
  latest.current = spec;
  const visible = spec !== null && initialised && mainButton.setParams.isAvailable();
  const text = spec?.text ?? '';
  const enabled = !(spec?.disabled ?? false);
  const loading = spec?.loading ?? false;
  useEffect(() => {
    if (!visible) return;
    safely(() => mainButton.setParams({ text, isEnabled: enabled, isLoaderVisible: loading, isVisible: true }));
  }, [visible, text, enabled, loading]);
  useEffect(() => {
    if (!visible) return;
    const handler = () => {
      if (latest.current && !latest.current.disabled && !latest.current.loading) latest.current.onClick();
    };
    let off: (() => void) | undefined;
    safely(() => {
      off = mainButton.onClick(handler);
    });
    return () => {
      off?.();
      safely(() => mainButton.setParams({ isVisible: false, isLoaderVisible: false }));
    };
  }, [visible]);
  return visible;
}
