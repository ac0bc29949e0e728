/**
 * What every page needs: the API client, who is signed in, navigation (Telegram's BackButton goes back),
 * and step-up (a fresh second factor) for actions the server guards with it.
 */
import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { type ApiClient, type ApiError, isUnavailable } from './api.ts';
import type { TelegramUser } from './telegram.ts';

export const ROUTES = ['home', 'mfa', 'sessions', 'api-keys', 'oauth', 'privacy', 'admin'] as const;
export type Route = (typeof ROUTES)[number];

export function routeFromPath(pathname: string): Route {
  const name = pathname.replace(/^\/app\/?/, '').split('/')[0] ?? '';
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : 'home';
}

export interface Me {
  id: string;
  telegramId: number;
  role: string;
  permissions: string[];
}

export interface AppContextValue {
  api: ApiClient;
  me: Me;
  /** Display only (from initData, verified by the server at sign-in). */
  telegramUser: TelegramUser | null;
  route: Route;
  navigate(route: Route): void;
  back(): void;
  /**
   * Runs `action`; when the server answers 403 STEP_UP_REQUIRED, asks for a code, verifies it and runs
   * `action` again. Resolves with the action's result, or rejects with its error (or the step-up's).
   */
  withStepUp<T>(action: () => Promise<T>): Promise<T>;
}

const AppContext = createContext<AppContextValue | null>(null);

export const AppProvider = AppContext.Provider;

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error('useApp outside <AppProvider>');
  return value;
}

export type Resource<T> =
  | { status: 'loading'; data: undefined; error: undefined }
  | { status: 'ready'; data: T; error: undefined }
  | { status: 'unavailable'; data: undefined; error: ApiError }
  | { status: 'error'; data: undefined; error: unknown };

/** GETs `path` (null: skip) with loading/ready/unavailable/error states and a reload. */
export function useResource<T>(path: string | null): Resource<T> & { reload(): void; set(data: T): void } {
  const { api } = useApp();
  const [state, setState] = useState<Resource<T>>({ status: 'loading', data: undefined, error: undefined });
  const [generation, setGeneration] = useState(0);
  const current = useRef(0);
  useEffect(() => {
    if (path === null) return;
    const ticket = ++current.current;
    setState((previous) =>
      previous.status === 'ready' && generation > 0
        ? previous
        : { status: 'loading', data: undefined, error: undefined },
    );
    api.get<T>(path).then(
      (data) => {
        if (ticket === current.current) setState({ status: 'ready', data, error: undefined });
      },
      (error: unknown) => {
        if (ticket !== current.current) return;
        setState(
          isUnavailable(error)
            ? { status: 'unavailable', data: undefined, error: error as ApiError }
            : { status: 'error', data: undefined, error },
        );
      },
    );
  }, [api, path, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const set = useCallback((data: T) => setState({ status: 'ready', data, error: undefined }), []);
  return { ...state, reload, set };
}

export function hasPermission(me: Me, permission: string): boolean {
  return me.permissions.includes(permission);
}
