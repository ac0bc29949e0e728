/**
 * The admin area: security dashboard (charts), audit search with chain verification, decisions, users and
 * roles. Hidden from non-admins on Home, refused here, and refused by the server (403) whatever the UI does;
 * every admin read needs a recent step-up, asked for once on entry.
 */
import { useEffect, useState } from 'react';
import { ApiError } from '../../api.ts';
import { hasPermission, useApp, useResource } from '../../context.tsx';
import { formatDate, formatDateTime, formatPercent } from '../../format.ts';
import { haptic } from '../../sdk.ts';
import {
  Badge,
  Block,
  Button,
  Cell,
  Empty,
  ErrorState,
  errorMessage,
  Icon,
  Loading,
  Notice,
  Page,
  Section,
  TextField,
} from '../../ui/index.tsx';
import { Bars, Donut, LineChart } from './charts.tsx';

type Tab = 'dashboard' | 'audit' | 'decisions' | 'users';
const TABS: { id: Tab; label: string }[] = [
  { id: 'dashboard', label: 'Dashboard' },
  { id: 'audit', label: 'Audit' },
  { id: 'decisions', label: 'Decisions' },
  { id: 'users', label: 'Users' },
];

function Refused({ text }: { text: string }) {
  return (
    <Page title="Admins only" testId="admin-refused">
      <div className="state state--error" role="alert">
        <Icon name="lock" className="state-icon" />
        <p className="state-text" data-testid="admin-refused-text">
          {text}
        </p>
      </div>
    </Page>
  );
}

export function AdminPage() {
  const { api, me, withStepUp } = useApp();
  const isAdmin = hasPermission(me, 'admin:security:read');
  const [gate, setGate] = useState<'checking' | 'open' | { error: unknown }>('checking');
  const [tab, setTab] = useState<Tab>('dashboard');

  useEffect(() => {
    if (!isAdmin) return;
    // One cheap admin read: the server says whether this session may enter (role, then step-up).
    withStepUp(() => api.get('/api/v1/admin/users?limit=1')).then(
      () => setGate('open'),
      (error: unknown) => setGate({ error }),
    );
  }, [api, isAdmin, withStepUp]);

  if (!isAdmin) return <Refused text="This area is for administrators. Your account does not have access." />;
  if (gate === 'checking') {
    return (
      <Page title="Security dashboard" testId="page-admin">
        <Loading label="Checking access…" />
      </Page>
    );
  }
  if (gate !== 'open') {
    const error = gate.error;
    if (error instanceof ApiError && error.code === 'PERMISSION_DENIED') {
      return <Refused text="The server refused: your account does not have access." />;
    }
    return (
      <Page title="Security dashboard" testId="page-admin">
        <ErrorState error={error} />
      </Page>
    );
  }

  return (
    <Page title="Security dashboard" subtitle="Administration" testId="page-admin">
      <div className="tabs" role="tablist" aria-label="Admin sections">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            className={tab === t.id ? 'tab tab--active' : 'tab'}
            onClick={() => {
              haptic.selection();
              setTab(t.id);
            }}
            data-testid={`admin-tab-${t.id}`}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'dashboard' ? <Dashboard /> : null}
        {tab === 'audit' ? <Audit /> : null}
        {tab === 'decisions' ? <Decisions /> : null}
        {tab === 'users' ? <Users /> : null}
      </div>
    </Page>
  );
}

interface Overview {
  kpis: {
    authSuccessRate: number | null;
    failedLoginRate: number | null;
    dsrOnTimeRate: number | null;
    highRiskFindings: number | null;
  };
  eventsByHour: { hour: string; count: number; failures: number }[];
  activeDecisions: number;
}
interface DsrItem {
  id: string;
  kind: string;
  status: string;
  dueAt: string;
  extendedUntil?: string | null;
}
interface Scan {
  scan: {
    finishedAt: string | null;
    counts: { critical: number; high: number; medium: number; low: number };
    findings: { id: string; severity: string; title: string; new: boolean }[];
  } | null;
}

function Kpi({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <div className="kpi" data-testid={testId}>
      <span className="kpi-value">{value}</span>
      <span className="kpi-label">{label}</span>
    </div>
  );
}

function Dashboard() {
  const overview = useResource<Overview>('/api/v1/admin/security/overview');
  const dsr = useResource<{ requests: DsrItem[] }>('/api/v1/admin/privacy/requests');
  const scans = useResource<Scan>('/api/v1/admin/scans/latest');

  const hours = overview.status === 'ready' ? overview.data.eventsByHour : [];
  const labels = hours.map((h) => {
    const date = new Date(h.hour);
    return Number.isNaN(date.getTime()) ? h.hour : `${String(date.getHours()).padStart(2, '0')}h`;
  });
  const totalEvents = hours.reduce((sum, h) => sum + h.count, 0);
  const failures = hours.reduce((sum, h) => sum + h.failures, 0);
  const kpis = overview.status === 'ready' ? overview.data.kpis : null;
  const now = Date.now();

  return (
    <>
      <Section title="Key figures" testId="admin-kpis">
        <Block>
          {overview.status === 'loading' ? <Loading /> : null}
          {overview.status === 'error' || overview.status === 'unavailable' ? (
            <ErrorState error={overview.error} onRetry={overview.reload} />
          ) : null}
          {kpis ? (
            <div className="kpis">
              <Kpi label="Sign-in success" value={formatPercent(kpis.authSuccessRate)} testId="kpi-auth" />
              <Kpi label="Failed sign-ins" value={formatPercent(kpis.failedLoginRate)} testId="kpi-failed" />
              <Kpi label="Requests on time" value={formatPercent(kpis.dsrOnTimeRate)} testId="kpi-dsr" />
              <Kpi
                label="High-risk findings"
                value={kpis.highRiskFindings === null ? '—' : String(kpis.highRiskFindings)}
                testId="kpi-findings"
              />
              <Kpi
                label="Active decisions"
                value={String(overview.status === 'ready' ? overview.data.activeDecisions : '—')}
                testId="kpi-decisions"
              />
            </div>
          ) : null}
        </Block>
      </Section>

      {overview.status === 'ready' ? (
        <>
          <Section title="Events, last hours" testId="chart-events">
            <Block>
              {hours.length === 0 ? (
                <Empty title="No events yet" />
              ) : (
                <LineChart
                  title="Security events per hour"
                  labels={labels}
                  series={[
                    { label: 'Events', tone: 'accent', values: hours.map((h) => h.count) },
                    { label: 'Failures', tone: 'bad', values: hours.map((h) => h.failures) },
                  ]}
                />
              )}
            </Block>
          </Section>
          <Section title="Outcomes: success and failure" testId="chart-auth">
            <Block>
              <Donut
                title="Outcomes"
                segments={[
                  { label: 'Succeeded', value: totalEvents - failures, tone: 'good' },
                  { label: 'Failed', value: failures, tone: 'bad' },
                ]}
              />
            </Block>
          </Section>
        </>
      ) : null}

      <Section title="Scan findings" testId="chart-findings">
        <Block>
          {scans.status === 'loading' ? <Loading /> : null}
          {scans.status === 'error' || scans.status === 'unavailable' ? (
            <ErrorState error={scans.error} onRetry={scans.reload} />
          ) : null}
          {scans.status === 'ready' && !scans.data.scan ? (
            <Empty title="No scan yet" text="The first scan runs shortly after start." />
          ) : null}
          {scans.status === 'ready' && scans.data.scan ? (
            <>
              <Bars
                title="Findings by severity"
                items={[
                  { label: 'critical', value: scans.data.scan.counts.critical, tone: 'bad' },
                  { label: 'high', value: scans.data.scan.counts.high, tone: 'warn' },
                  { label: 'medium', value: scans.data.scan.counts.medium, tone: 'accent' },
                  { label: 'low', value: scans.data.scan.counts.low, tone: 'muted' },
                ]}
              />
              <p className="block-text">Last scan {formatDateTime(scans.data.scan.finishedAt)}</p>
            </>
          ) : null}
        </Block>
      </Section>

      <Section title="Data requests due" testId="dsr-queue">
        {dsr.status === 'loading' ? (
          <Block>
            <Loading />
          </Block>
        ) : null}
        {dsr.status === 'error' || dsr.status === 'unavailable' ? (
          <Block>
            <ErrorState error={dsr.error} onRetry={dsr.reload} />
          </Block>
        ) : null}
        {dsr.status === 'ready' && dsr.data.requests.length === 0 ? (
          <Block>
            <Empty title="No open requests" />
          </Block>
        ) : null}
        {dsr.status === 'ready'
          ? dsr.data.requests.slice(0, 20).map((request) => {
              const due = request.extendedUntil ?? request.dueAt;
              const days = Math.ceil((new Date(due).getTime() - now) / 86_400_000);
              return (
                <Cell
                  key={request.id}
                  title={request.kind}
                  subtitle={`due ${formatDate(due)} · ${request.status}`}
                  after={
                    <Badge tone={days < 0 ? 'red' : days <= 3 ? 'orange' : 'gray'}>
                      {days < 0 ? 'overdue' : `${days} d`}
                    </Badge>
                  }
                />
              );
            })
          : null}
      </Section>
    </>
  );
}

interface AuditEntry {
  seq: number;
  occurredAt: string;
  action: string;
  result: string;
  reasonCode: string | null;
  actorType: string;
  subjectUserId: string | null;
  source: string;
}
interface Verification {
  ok: boolean;
  checked: number;
  lastSeq: number | null;
  firstBroken: { seq: number; reason: string } | null;
  latestCheckpoint: { seq: number; createdAt: string } | null;
  unsignedEntries: number;
  verifiedAt: string;
}

const RESULT_TONE = { success: 'green', failure: 'orange', denied: 'red', error: 'red' } as const;

function Audit() {
  const [action, setAction] = useState('');
  const [query, setQuery] = useState('');
  const valid = query === '' || /^[a-z][a-z0-9_.]{0,63}$/.test(query);
  const entries = useResource<{ entries: AuditEntry[] }>(
    valid ? `/api/v1/admin/audit?limit=50${query ? `&action=${encodeURIComponent(query)}` : ''}` : null,
  );
  const verification = useResource<Verification>('/api/v1/admin/audit/verification');

  return (
    <>
      <Section title="Chain verification" testId="audit-verification">
        {verification.status === 'loading' ? (
          <Block>
            <Loading label="Verifying the chain…" />
          </Block>
        ) : null}
        {verification.status === 'error' || verification.status === 'unavailable' ? (
          <Block>
            <ErrorState error={verification.error} onRetry={verification.reload} />
          </Block>
        ) : null}
        {verification.status === 'ready' ? (
          <Cell
            icon={verification.data.ok ? 'shield' : 'alert'}
            tone={verification.data.ok ? 'green' : 'red'}
            title={
              verification.data.ok ? 'Chain intact' : `Broken at entry ${verification.data.firstBroken?.seq ?? '?'}`
            }
            subtitle={
              verification.data.ok
                ? `${verification.data.checked} entries checked · ${verification.data.unsignedEntries} not yet signed · ${formatDateTime(verification.data.verifiedAt)}`
                : `Reason: ${verification.data.firstBroken?.reason ?? 'unknown'}`
            }
            testId="audit-chain-status"
            after={
              <Badge tone={verification.data.ok ? 'green' : 'red'}>{verification.data.ok ? 'ok' : 'broken'}</Badge>
            }
          />
        ) : null}
      </Section>
      <Section title="Search" footer="An action (auth.login) or a prefix ending with a dot (auth.).">
        <Block>
          <form
            className="form form--inline"
            onSubmit={(event) => {
              event.preventDefault();
              setQuery(action.trim());
            }}
          >
            <TextField
              label="Action"
              value={action}
              onChange={setAction}
              maxLength={64}
              placeholder="auth."
              testId="audit-action"
            />
            <Button type="submit" variant="secondary" wide={false} testId="audit-search">
              Search
            </Button>
          </form>
          {!valid ? <Notice tone="error">Use lower-case letters, digits, dots and underscores.</Notice> : null}
        </Block>
      </Section>
      {entries.status === 'loading' ? <Loading /> : null}
      {entries.status === 'error' || entries.status === 'unavailable' ? (
        <ErrorState error={entries.error} onRetry={entries.reload} />
      ) : null}
      {entries.status === 'ready' && entries.data.entries.length === 0 ? (
        <Empty title="No entries match" icon="search" />
      ) : null}
      {entries.status === 'ready' && entries.data.entries.length > 0 ? (
        <Section title="Entries" testId="audit-entries">
          {entries.data.entries.map((entry) => (
            <Cell
              key={entry.seq}
              title={`#${entry.seq} ${entry.action}`}
              subtitle={`${formatDateTime(entry.occurredAt)} · ${entry.actorType} via ${entry.source}${entry.reasonCode ? ` · ${entry.reasonCode}` : ''}`}
              after={
                <Badge tone={RESULT_TONE[entry.result as keyof typeof RESULT_TONE] ?? 'gray'}>{entry.result}</Badge>
              }
            />
          ))}
        </Section>
      ) : null}
    </>
  );
}

interface Decision {
  id: string;
  scenario: string;
  scope: string;
  kind: string;
  target: string;
  reason: string;
  createdAt: string;
  expiresAt: string;
  automated: boolean;
}

function Decisions() {
  const { api, withStepUp } = useApp();
  const decisions = useResource<{ decisions: Decision[] }>('/api/v1/admin/decisions');
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);

  const act = async (id: string, action: () => Promise<unknown>, done: string) => {
    setBusy(id);
    setMessage(null);
    try {
      await withStepUp(action);
      haptic.notify('success');
      setMessage({ tone: 'success', text: done });
      decisions.reload();
    } catch (error) {
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      {message ? <Notice tone={message.tone}>{message.text}</Notice> : null}
      {decisions.status === 'loading' ? <Loading /> : null}
      {decisions.status === 'error' || decisions.status === 'unavailable' ? (
        <ErrorState error={decisions.error} onRetry={decisions.reload} />
      ) : null}
      {decisions.status === 'ready' && decisions.data.decisions.length === 0 ? (
        <Empty title="No active decisions" text="Nobody is blocked or throttled right now." />
      ) : null}
      {decisions.status === 'ready' && decisions.data.decisions.length > 0 ? (
        <Section title="Active decisions" testId="decisions">
          {decisions.data.decisions.map((decision) => (
            <li key={decision.id} className="block key-row">
              <div className="key-head">
                <span className="cell-title">
                  {decision.kind} · {decision.scenario}
                </span>
                <Badge tone={decision.automated ? 'orange' : 'blue'}>{decision.automated ? 'auto' : 'manual'}</Badge>
              </div>
              <code className="key-prefix">{decision.target}</code>
              <p className="cell-subtitle">
                {decision.reason} · until {formatDateTime(decision.expiresAt)}
              </p>
              <div className="button-row">
                <Button
                  variant="secondary"
                  wide={false}
                  busy={busy === decision.id}
                  onClick={() =>
                    void act(decision.id, () => api.post(`/api/v1/admin/decisions/${decision.id}/extend`), 'Extended.')
                  }
                >
                  Extend
                </Button>
                <Button
                  variant="destructive"
                  wide={false}
                  busy={busy === decision.id}
                  onClick={() =>
                    void act(decision.id, () => api.del(`/api/v1/admin/decisions/${decision.id}`), 'Lifted.')
                  }
                >
                  Lift
                </Button>
              </div>
            </li>
          ))}
        </Section>
      ) : null}
    </>
  );
}

interface AdminUser {
  id: string;
  /** Null while the person's erasure is under way (their Telegram id can no longer be read). */
  telegramId: number | null;
  role: string;
  status: string;
  createdAt: string;
}

function Users() {
  const { api, me, withStepUp } = useApp();
  const users = useResource<{ users: AdminUser[]; total: number }>('/api/v1/admin/users?limit=100');
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);

  const setRole = async (user: AdminUser, role: string) => {
    setBusy(user.id);
    setMessage(null);
    try {
      const result = await withStepUp(() =>
        api.put<{ code?: string }>(`/api/v1/admin/users/${user.id}/role`, { role }),
      );
      haptic.notify('success');
      // Making someone an admin needs a second admin (two-person rule): the server answers 202 APPROVAL_REQUIRED.
      setMessage({
        tone: 'success',
        text:
          result?.code === 'APPROVAL_REQUIRED'
            ? 'Request sent: another admin must approve it in Telegram within 24 hours.'
            : `Role changed to ${role}.`,
      });
      users.reload();
    } catch (error) {
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      {message ? <Notice tone={message.tone}>{message.text}</Notice> : null}
      {users.status === 'loading' ? <Loading /> : null}
      {users.status === 'error' || users.status === 'unavailable' ? (
        <ErrorState error={users.error} onRetry={users.reload} />
      ) : null}
      {users.status === 'ready' && users.data.users.length === 0 ? <Empty title="No users" /> : null}
      {users.status === 'ready' && users.data.users.length > 0 ? (
        <Section title={`Users (${users.data.total})`} testId="admin-users">
          {users.data.users.map((user) => (
            <li key={user.id} className="block user-row" data-testid="admin-user">
              <div className="key-head">
                <span className="cell-title">
                  {user.telegramId === null ? 'Erased person' : `Telegram ${user.telegramId}`}
                </span>
                {user.id === me.id ? <Badge tone="blue">you</Badge> : null}
                {user.status !== 'active' ? <Badge tone="red">{user.status}</Badge> : null}
              </div>
              <p className="cell-subtitle">Joined {formatDate(user.createdAt)}</p>
              <label className="field-label" htmlFor={`role-${user.id}`}>
                Role
              </label>
              <select
                id={`role-${user.id}`}
                className="field-input"
                value={user.role}
                disabled={busy === user.id}
                onChange={(event) => void setRole(user, event.target.value)}
              >
                <option value="user">user</option>
                <option value="readonly">readonly</option>
                <option value="admin">admin</option>
              </select>
            </li>
          ))}
        </Section>
      ) : null}
    </>
  );
}
