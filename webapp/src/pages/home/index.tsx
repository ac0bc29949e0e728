/** Home: the account at a glance and a security checklist with progress; the way into every other page. */
import { hasPermission, type Resource, useApp, useResource } from '../../context.tsx';
import { plural } from '../../format.ts';
import { Badge, Cell, Icon, Page, Section, Spinner } from '../../ui/index.tsx';

interface MfaStatus {
  enabled: boolean;
  backupCodesRemaining: number;
}
interface Providers {
  providers: { id: string; linked: boolean }[];
}
interface Sessions {
  sessions: { id: string }[];
}
interface Requests {
  requests: { id: string; status: string }[];
}

/** Fewer backup codes than this and the checklist asks for new ones. */
const LOW_BACKUP_CODES = 3;
/** More sessions than this and the checklist asks the user to review them. */
const MANY_SESSIONS = 3;
const FINISHED_REQUEST = new Set(['completed', 'cancelled', 'rejected', 'expired', 'done', 'failed']);

type ItemState = 'done' | 'todo' | 'loading' | 'unavailable';

interface Item {
  id: string;
  title: string;
  detail: string;
  state: ItemState;
}

function itemFrom<T>(
  resource: Resource<T>,
  id: string,
  title: string,
  judge: (data: T) => { done: boolean; detail: string },
): Item {
  if (resource.status === 'loading') return { id, title, detail: 'Checking…', state: 'loading' };
  if (resource.status === 'unavailable')
    return { id, title, detail: 'Not available on this server yet', state: 'unavailable' };
  if (resource.status === 'error') return { id, title, detail: 'Could not check', state: 'unavailable' };
  const { done, detail } = judge(resource.data);
  return { id, title, detail, state: done ? 'done' : 'todo' };
}

function ChecklistMark({ state }: { state: ItemState }) {
  if (state === 'loading') return <Spinner small />;
  if (state === 'done')
    return (
      <span className="mark mark--done" role="img" aria-label="Done">
        <Icon name="check" />
      </span>
    );
  if (state === 'todo')
    return (
      <span className="mark mark--todo" role="img" aria-label="To do">
        <Icon name="alert" />
      </span>
    );
  return <span className="mark mark--na" role="img" aria-label="Not available" />;
}

function firstLetter(name: string): string {
  return (Array.from(name.trim())[0] ?? '').toUpperCase();
}

const AVATAR_COLORS = ['red', 'orange', 'violet', 'green', 'cyan', 'blue', 'pink'] as const;

export function HomePage() {
  const { me, telegramUser, navigate } = useApp();
  const mfa = useResource<MfaStatus>('/api/v1/mfa');
  const oauth = useResource<Providers>('/api/v1/oauth/providers');
  const sessions = useResource<Sessions>('/api/v1/sessions');
  const requests = useResource<Requests>('/api/v1/privacy/requests');

  const items: Item[] = [
    itemFrom(mfa, 'mfa', 'Two-factor authentication', (d) => ({
      done: d.enabled,
      detail: d.enabled ? 'On' : 'Off: turn it on to protect your account',
    })),
    itemFrom(mfa, 'backup-codes', 'Backup codes', (d) => ({
      done: d.enabled && d.backupCodesRemaining >= LOW_BACKUP_CODES,
      detail: d.enabled ? `${plural(d.backupCodesRemaining, 'code', 'codes')} left` : 'Set up two-factor first',
    })),
    itemFrom(oauth, 'linked', 'Linked accounts', (d) => {
      const linked = d.providers.filter((p) => p.linked).length;
      return { done: linked > 0, detail: linked > 0 ? `${linked} linked` : 'None linked (a way back in)' };
    }),
    itemFrom(sessions, 'sessions', 'Active sessions', (d) => ({
      done: d.sessions.length <= MANY_SESSIONS,
      detail: `${plural(d.sessions.length, 'session', 'sessions')}${d.sessions.length > MANY_SESSIONS ? ': review them' : ''}`,
    })),
    itemFrom(requests, 'requests', 'Data requests', (d) => {
      const pending = d.requests.filter((r) => !FINISHED_REQUEST.has(r.status)).length;
      return { done: pending === 0, detail: pending === 0 ? 'None pending' : `${pending} pending` };
    }),
  ];
  const counted = items.filter((item) => item.state === 'done' || item.state === 'todo');
  const done = counted.filter((item) => item.state === 'done').length;
  const loading = items.some((item) => item.state === 'loading');

  const name = telegramUser?.firstName ?? 'there';
  const color = AVATAR_COLORS[Math.abs(me.telegramId) % AVATAR_COLORS.length];
  const isAdmin = hasPermission(me, 'admin:security:read');
  const target: Record<string, Parameters<typeof navigate>[0]> = {
    mfa: 'mfa',
    'backup-codes': 'mfa',
    linked: 'oauth',
    sessions: 'sessions',
    requests: 'privacy',
  };

  return (
    <Page title="Security" subtitle="Your account, sign-in and privacy" testId="page-home">
      <Section title="Account">
        <li>
          <div className="cell account">
            <span className={`avatar avatar--${color}`} aria-hidden="true">
              {firstLetter(name) || <Icon name="person" />}
            </span>
            <span className="cell-body">
              <span className="cell-text">
                <span className="cell-title account-title" data-testid="greeting">
                  Hi, {name}
                </span>
                <span className="cell-subtitle">
                  {telegramUser?.username ? `@${telegramUser.username} · ` : ''}
                  <span data-testid="role">{me.role}</span>
                </span>
              </span>
            </span>
          </div>
        </li>
      </Section>

      <Section title="Security checklist" testId="checklist">
        <li className="block">
          <div className="progress-row">
            <label htmlFor="checklist-progress" className="progress-label">
              {loading ? 'Checking your account…' : `${done} of ${counted.length} done`}
            </label>
            <progress
              id="checklist-progress"
              className="progress"
              max={Math.max(1, counted.length)}
              value={done}
              data-testid="checklist-progress"
            />
          </div>
        </li>
        {items.map((item) => (
          <Cell
            key={item.id}
            title={item.title}
            subtitle={item.detail}
            after={<ChecklistMark state={item.state} />}
            chevron
            onClick={() => navigate(target[item.id] ?? 'home')}
            testId={`check-${item.id}`}
          />
        ))}
      </Section>

      <Section title="Sign-in & security">
        <Cell
          icon="shield"
          tone="green"
          title="Two-factor authentication"
          chevron
          onClick={() => navigate('mfa')}
          testId="nav-mfa"
        />
        <Cell
          icon="sessions"
          tone="blue"
          title="Sessions"
          chevron
          onClick={() => navigate('sessions')}
          testId="nav-sessions"
        />
        <Cell
          icon="key"
          tone="orange"
          title="API keys"
          chevron
          onClick={() => navigate('api-keys')}
          testId="nav-api-keys"
        />
        <Cell
          icon="link"
          tone="violet"
          title="Linked accounts"
          chevron
          onClick={() => navigate('oauth')}
          testId="nav-oauth"
        />
      </Section>

      <Section title="Privacy" footer="See what we store, take a copy, or have it erased.">
        <Cell
          icon="consent"
          tone="teal"
          title="Privacy & data"
          chevron
          onClick={() => navigate('privacy')}
          testId="nav-privacy"
        />
      </Section>

      {isAdmin ? (
        <Section title="Administration">
          <Cell
            icon="chart"
            tone="red"
            title="Security dashboard"
            after={<Badge tone="red">admin</Badge>}
            chevron
            onClick={() => navigate('admin')}
            testId="nav-admin"
          />
        </Section>
      ) : null}
    </Page>
  );
}
