import { type ReactNode, useEffect } from 'react';
import type { LaunchParams, TelegramUser } from './telegram.ts';

/** Stroke icons drawn inline (24×24): no image requests, nothing for the CSP to block. */
const ICONS = {
  person: (
    <>
      <circle cx="12" cy="8" r="4" />
      <path d="M4 21c0-4 3.6-6 8-6s8 2 8 6" />
    </>
  ),
  sessions: (
    <>
      <rect x="3" y="4" width="18" height="12" rx="2" />
      <path d="M8 20h8M12 16v4" />
    </>
  ),
  twoFactor: (
    <>
      <path d="M12 3l7 3v5c0 4.5-3 8.5-7 10-4-1.5-7-5.5-7-10V6z" />
      <path d="M9 12l2 2 4-4" />
    </>
  ),
  link: (
    <>
      <path d="M10 14a4 4 0 0 0 5.66 0l3-3a4 4 0 0 0-5.66-5.66l-1 1" />
      <path d="M14 10a4 4 0 0 0-5.66 0l-3 3a4 4 0 0 0 5.66 5.66l1-1" />
    </>
  ),
  key: (
    <>
      <circle cx="8" cy="15" r="4" />
      <path d="M11 12l9-9M17 6l3 3M15 8l2 2" />
    </>
  ),
  consent: (
    <>
      <rect x="4" y="4" width="16" height="16" rx="3" />
      <path d="M8 12l3 3 5-6" />
    </>
  ),
  download: <path d="M12 4v11M7 10l5 5 5-5M5 20h14" />,
  trash: <path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3" />,
} as const;

type IconName = keyof typeof ICONS;
type Tone = 'blue' | 'green' | 'orange' | 'violet' | 'teal' | 'red';

interface PlaceholderRowSpec {
  id: string;
  title: string;
  icon: IconName;
  tone: Tone;
  isDestructive?: boolean;
}

const SECURITY_ROWS: readonly PlaceholderRowSpec[] = [
  { id: 'sessions', title: 'Sessions', icon: 'sessions', tone: 'blue' },
  { id: 'two-factor', title: 'Two-factor authentication', icon: 'twoFactor', tone: 'green' },
  { id: 'linked-accounts', title: 'Linked accounts', icon: 'link', tone: 'violet' },
  { id: 'api-keys', title: 'API keys', icon: 'key', tone: 'orange' },
];

const PRIVACY_ROWS: readonly PlaceholderRowSpec[] = [
  { id: 'consent', title: 'Consent', icon: 'consent', tone: 'teal' },
  { id: 'export', title: 'Export my data', icon: 'download', tone: 'blue' },
  { id: 'delete', title: 'Delete my data', icon: 'trash', tone: 'red', isDestructive: true },
];

function Icon({ name }: { name: IconName }) {
  return (
    <svg
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={2}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {ICONS[name]}
    </svg>
  );
}

function Section({ id, title, footer, children }: { id: string; title: string; footer?: string; children: ReactNode }) {
  const headerId = `section-${id}-title`;
  return (
    <section className="section" aria-labelledby={headerId} data-testid={`section-${id}`}>
      <h2 className="section-header" id={headerId}>
        {title}
      </h2>
      <ul className="section-card">{children}</ul>
      {footer === undefined ? null : <p className="section-footer">{footer}</p>}
    </section>
  );
}

/** A row for a feature that later issues build: visible, announced as unavailable, not clickable. */
function PlaceholderRow({ row }: { row: PlaceholderRowSpec }) {
  const hintId = `row-${row.id}-hint`;
  return (
    <li>
      <button
        type="button"
        className={row.isDestructive ? 'cell cell--destructive' : 'cell'}
        disabled
        aria-describedby={hintId}
        data-testid={`row-${row.id}`}
      >
        <span className={`cell-icon cell-icon--${row.tone}`}>
          <Icon name={row.icon} />
        </span>
        <span className="cell-body">
          <span className="cell-text">
            <span className="cell-title">{row.title}</span>
          </span>
          <span className="cell-hint" id={hintId}>
            Coming soon
          </span>
        </span>
      </button>
    </li>
  );
}

function firstLetter(name: string): string {
  // Array.from splits by code point, so an emoji or a non-BMP letter stays whole.
  return (Array.from(name.trim())[0] ?? '').toUpperCase();
}

// Telegram picks a user's avatar colour from seven, by id.
const AVATAR_COLORS = ['red', 'orange', 'violet', 'green', 'cyan', 'blue', 'pink'] as const;

function AccountRow({ user }: { user: TelegramUser | null }) {
  const initial = user ? firstLetter(user.firstName) : '';
  const color = user ? AVATAR_COLORS[Math.abs(user.id) % AVATAR_COLORS.length] : undefined;
  return (
    <li>
      <div className="cell account">
        <span className={color ? `avatar avatar--${color}` : 'avatar'} aria-hidden="true">
          {initial === '' ? <Icon name="person" /> : initial}
        </span>
        <span className="cell-body">
          <span className="cell-text">
            {user ? (
              <>
                <span className="cell-title account-title" data-testid="greeting">
                  Hi, {user.firstName}
                </span>
                <span className="cell-subtitle">{user.username ? `@${user.username}` : 'Telegram account'}</span>
              </>
            ) : (
              <span className="account-prompt" data-testid="greeting">
                Open this app from the bot to sign in
              </span>
            )}
          </span>
        </span>
      </div>
    </li>
  );
}

export interface AppProps {
  /** Null when the page was opened outside Telegram. */
  launchParams: LaunchParams | null;
  /** Called once after the first render: the moment to tell Telegram the app is ready. */
  onReady?: () => void;
}

/** The Mini App shell: the settings-style screen later issues fill with real pages. */
export function App({ launchParams, onReady }: AppProps) {
  useEffect(() => {
    onReady?.();
  }, [onReady]);

  const user = launchParams?.user ?? null;
  return (
    <main className="app" data-testid="app-root" aria-labelledby="app-title">
      <header className="app-header">
        <h1 className="app-title" id="app-title">
          Security
        </h1>
        <p className="app-subtitle">Your account, sign-in and privacy</p>
      </header>

      <Section id="account" title="Account">
        <AccountRow user={user} />
      </Section>

      <Section
        id="security"
        title="Sign-in & security"
        footer="Manage where you are signed in and how you prove it is you."
      >
        {SECURITY_ROWS.map((row) => (
          <PlaceholderRow key={row.id} row={row} />
        ))}
      </Section>

      <Section id="privacy" title="Privacy" footer="See what we store, take a copy, or have it erased.">
        {PRIVACY_ROWS.map((row) => (
          <PlaceholderRow key={row.id} row={row} />
        ))}
      </Section>

      {launchParams ? (
        <p className="app-footnote">
          Telegram {launchParams.platform ?? 'client'}
          {launchParams.version ? ` · Mini Apps ${launchParams.version}` : ''}
        </p>
      ) : null}
    </main>
  );
}
