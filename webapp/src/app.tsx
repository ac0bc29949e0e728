/**
 * The Mini App shell: signs in with the raw initData (never initDataUnsafe), handles the MFA challenge,
 * then shows the pages. Pages other than Home load on demand (React.lazy) to keep the first page small.
 */
import { lazy, type ReactNode, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { type ApiClient, ApiError, type MfaChallenge } from './api.ts';
import { type AppContextValue, AppProvider, type Me, type Route, routeFromPath } from './context.tsx';
import { OutsideTelegramPage, SignInProblemPage } from './pages/auth/index.tsx';
import { HomePage } from './pages/home/index.tsx';
import { MfaChallengePage, StepUpPage } from './pages/mfa/challenge.tsx';
import { haptic, signalReady, useBackButton } from './sdk.ts';
import type { TelegramUser } from './telegram.ts';
import { Loading } from './ui/index.tsx';

const MfaPage = lazy(() => import('./pages/mfa/index.tsx').then((m) => ({ default: m.MfaPage })));
const SessionsPage = lazy(() => import('./pages/security/sessions.tsx').then((m) => ({ default: m.SessionsPage })));
const ApiKeysPage = lazy(() => import('./pages/security/api-keys.tsx').then((m) => ({ default: m.ApiKeysPage })));
const OAuthPage = lazy(() => import('./pages/oauth/index.tsx').then((m) => ({ default: m.OAuthPage })));
const PrivacyPage = lazy(() => import('./pages/privacy/index.tsx').then((m) => ({ default: m.PrivacyPage })));
const AdminPage = lazy(() => import('./pages/admin/index.tsx').then((m) => ({ default: m.AdminPage })));

type Phase =
  | { kind: 'outside' }
  | { kind: 'signing-in' }
  | { kind: 'mfa'; challenge: MfaChallenge }
  | { kind: 'failed'; error: unknown }
  | { kind: 'session-lost'; error: ApiError }
  | { kind: 'ready'; me: Me };

export interface AppProps {
  api: ApiClient;
  /** initData exactly as Telegram signed it; null outside Telegram. */
  initData: string | null;
  telegramUser: TelegramUser | null;
  /** Set when the session ends on its own (revoked elsewhere, refresh refused). */
  subscribeSessionLost(listener: (error: ApiError) => void): () => void;
  /** Outside Telegram in development: start again with initData from the development signer. */
  onDevInitData?(initData: string): void;
}

async function loadMe(api: ApiClient): Promise<Me> {
  const body = await api.get<{ user: { id: string; telegramId: number; role: string }; permissions: string[] }>(
    '/api/v1/me',
  );
  return { ...body.user, permissions: body.permissions };
}

export function App({ api, initData, telegramUser, subscribeSessionLost, onDevInitData }: AppProps) {
  const [phase, setPhase] = useState<Phase>(initData ? { kind: 'signing-in' } : { kind: 'outside' });
  const started = useRef<string | null>(null);

  useEffect(() => signalReady(), []);
  useEffect(() => subscribeSessionLost((error) => setPhase({ kind: 'session-lost', error })), [subscribeSessionLost]);

  useEffect(() => {
    if (!initData || started.current === initData) return;
    started.current = initData;
    setPhase({ kind: 'signing-in' });
    api.signInWithTelegram(initData).then(
      async (result) => {
        if (result.kind === 'mfa') {
          setPhase({ kind: 'mfa', challenge: result });
          return;
        }
        setPhase({ kind: 'ready', me: await loadMe(api) });
      },
      (error: unknown) => {
        haptic.notify('error');
        setPhase({ kind: 'failed', error });
      },
    );
  }, [api, initData]);

  const onMfaVerified = useCallback(async () => {
    haptic.notify('success');
    setPhase({ kind: 'ready', me: await loadMe(api) });
  }, [api]);

  switch (phase.kind) {
    case 'outside':
      return <OutsideTelegramPage onDevInitData={onDevInitData} />;
    case 'signing-in':
      return (
        <main className="app app--centered" data-testid="signing-in">
          <Loading label="Signing you in…" />
        </main>
      );
    case 'mfa':
      return <MfaChallengePage api={api} challenge={phase.challenge} onVerified={onMfaVerified} />;
    case 'failed':
      return <SignInProblemPage error={phase.error} />;
    case 'session-lost':
      return <SignInProblemPage error={phase.error} />;
    case 'ready':
      return <SignedIn api={api} me={phase.me} telegramUser={telegramUser} />;
  }
}

interface StepUpRequest {
  resolve(): void;
  reject(error: unknown): void;
}

function SignedIn({ api, me, telegramUser }: { api: ApiClient; me: Me; telegramUser: TelegramUser | null }) {
  const [route, setRoute] = useState<Route>(() => routeFromPath(window.location.pathname));
  const [depth, setDepth] = useState(0);
  const [stepUp, setStepUp] = useState<StepUpRequest | null>(null);

  useEffect(() => {
    const onPop = () => {
      setRoute(routeFromPath(window.location.pathname));
      setDepth((d) => Math.max(0, d - 1));
    };
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const navigate = useCallback((next: Route) => {
    // Paths only: nothing personal and no token ever goes into the URL.
    window.history.pushState(null, '', next === 'home' ? '/app/' : `/app/${next}`);
    setRoute(next);
    setDepth((d) => d + 1);
    window.scrollTo(0, 0);
  }, []);

  const back = useCallback(() => {
    if (depth > 0) {
      window.history.back();
      return;
    }
    // Opened on a deep link: "back" goes to Home.
    window.history.replaceState(null, '', '/app/');
    setRoute('home');
  }, [depth]);

  useBackButton(route === 'home' && !stepUp ? null : stepUp ? () => stepUp.reject(cancelled()) : back);

  const withStepUp = useCallback(async <T,>(action: () => Promise<T>): Promise<T> => {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'STEP_UP_REQUIRED')) throw error;
      await new Promise<void>((resolve, reject) => {
        setStepUp({
          resolve: () => {
            setStepUp(null);
            resolve();
          },
          reject: (reason) => {
            setStepUp(null);
            reject(reason);
          },
        });
      });
      return await action();
    }
  }, []);

  const value = useMemo<AppContextValue>(
    () => ({ api, me, telegramUser, route, navigate, back, withStepUp }),
    [api, me, telegramUser, route, navigate, back, withStepUp],
  );

  let page: ReactNode;
  switch (route) {
    case 'home':
      page = <HomePage />;
      break;
    case 'mfa':
      page = <MfaPage />;
      break;
    case 'sessions':
      page = <SessionsPage />;
      break;
    case 'api-keys':
      page = <ApiKeysPage />;
      break;
    case 'oauth':
      page = <OAuthPage />;
      break;
    case 'privacy':
      page = <PrivacyPage />;
      break;
    case 'admin':
      page = <AdminPage />;
      break;
  }

  return (
    <AppProvider value={value}>
      {stepUp ? <StepUpPage api={api} onDone={stepUp.resolve} onCancel={() => stepUp.reject(cancelled())} /> : null}
      {/* Kept mounted under the step-up screen, so the page's pending action resumes where it was. */}
      <div hidden={stepUp !== null}>
        <Suspense
          fallback={
            <main className="app app--centered">
              <Loading />
            </main>
          }
        >
          {page}
        </Suspense>
      </div>
    </AppProvider>
  );
}

function cancelled(): ApiError {
  return new ApiError(403, { code: 'STEP_UP_CANCELLED', message: 'Confirmation cancelled.' });
}
