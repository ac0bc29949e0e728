/**
 * Privacy: consent per purpose (each switch saves at once), the policy, a copy of your data with progress and
 * download, erasure with its grace countdown and cancel, and rectify / restrict / object.
 */
import { useEffect, useState } from 'react';
import type { ApiError } from '../../api.ts';
import { useApp, useResource } from '../../context.tsx';
import { formatCountdown, formatDate, formatDateTime } from '../../format.ts';
import { haptic } from '../../sdk.ts';
import {
  Badge,
  Block,
  Button,
  Cell,
  ErrorState,
  errorMessage,
  Loading,
  Notice,
  Page,
  Section,
  SwitchCell,
  TextField,
} from '../../ui/index.tsx';

interface Purpose {
  id: string;
  title: string;
  description: string;
  version: string;
  legalBasis: string;
  required: boolean;
  granted: boolean;
  grantedAt: string | null;
  /** The person objected to this purpose (Art. 21); absent on servers that do not support objections. */
  objected?: boolean;
}
interface PrivacyRequest {
  id: string;
  kind: 'access' | 'erasure' | 'rectification' | 'restriction' | 'objection';
  status: string;
  createdAt: string;
  dueAt: string;
  extendedUntil: string | null;
  /** Export progress in percent (0-100). */
  progress: number | null;
  effectiveAt: string | null;
  downloadUrl: string | null;
}

const OPEN = new Set(['pending', 'scheduled', 'processing']);
const POLL_MS = 2000;

type Message = { tone: 'success' | 'error' | 'info'; text: string } | null;

function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

function Consents({ setMessage }: { setMessage: (m: Message) => void }) {
  const { api } = useApp();
  const consents = useResource<{ purposes: Purpose[] }>('/api/v1/privacy/consents');
  const [saving, setSaving] = useState<string | null>(null);

  const toggle = async (purpose: Purpose, granted: boolean) => {
    if (consents.status !== 'ready') return;
    const before = consents.data;
    // Shown at once; put back if the server refuses.
    consents.set({ purposes: before.purposes.map((p) => (p.id === purpose.id ? { ...p, granted } : p)) });
    setSaving(purpose.id);
    try {
      const updated = await api.put<Purpose>(`/api/v1/privacy/consents/${encodeURIComponent(purpose.id)}`, { granted });
      consents.set({ purposes: before.purposes.map((p) => (p.id === purpose.id ? { ...p, ...updated } : p)) });
      haptic.notify('success');
      setMessage({ tone: 'success', text: `Saved: ${purpose.title} ${granted ? 'on' : 'off'}.` });
    } catch (error) {
      consents.set(before);
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setSaving(null);
    }
  };

  if (consents.status === 'loading') return <Loading label="Loading your choices…" />;
  if (consents.status !== 'ready') return <ErrorState error={consents.error} onRetry={consents.reload} />;
  return (
    <Section
      title="Your consents"
      footer="Changes are saved as soon as you flip a switch. Required purposes cannot be turned off."
      testId="consents"
    >
      {consents.data.purposes.map((purpose) => (
        <SwitchCell
          key={purpose.id}
          title={purpose.title}
          subtitle={purpose.required ? `${purpose.description} (required)` : purpose.description}
          checked={purpose.granted}
          disabled={purpose.required}
          busy={saving === purpose.id}
          onChange={(granted) => void toggle(purpose, granted)}
          testId={`consent-${purpose.id}`}
        />
      ))}
    </Section>
  );
}

function Requests({ setMessage }: { setMessage: (m: Message) => void }) {
  const { api, withStepUp } = useApp();
  const requests = useResource<{ requests: PrivacyRequest[] }>('/api/v1/privacy/requests');
  const [busy, setBusy] = useState<string | null>(null);
  const list = requests.status === 'ready' ? requests.data.requests : [];
  const openExport = list.find((r) => r.kind === 'access' && OPEN.has(r.status));
  const readyExport = list.find((r) => r.kind === 'access' && r.downloadUrl);
  const erasure = list.find((r) => r.kind === 'erasure' && OPEN.has(r.status));
  const now = useNow(erasure?.effectiveAt != null);
  const { reload } = requests;

  // While an export is being prepared, follow its progress.
  useEffect(() => {
    if (!openExport) return;
    const timer = setInterval(reload, POLL_MS);
    return () => clearInterval(timer);
  }, [openExport, reload]);

  const run = async (id: string, action: () => Promise<void>) => {
    setBusy(id);
    setMessage(null);
    try {
      await action();
      haptic.notify('success');
      reload();
    } catch (error) {
      if ((error as ApiError).code === 'STEP_UP_CANCELLED') return;
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  const download = (request: PrivacyRequest) =>
    run('download', async () => {
      if (!request.downloadUrl) return;
      const blob = await api.download(request.downloadUrl);
      const href = URL.createObjectURL(blob);
      const anchor = document.createElement('a');
      anchor.href = href;
      anchor.download = `my-data-${request.createdAt.slice(0, 10)}.json`;
      anchor.click();
      setTimeout(() => URL.revokeObjectURL(href), 10_000);
    });

  if (requests.status === 'loading') return <Loading label="Loading your requests…" />;
  if (requests.status !== 'ready') return <ErrorState error={requests.error} onRetry={reload} />;

  return (
    <>
      <Section
        title="A copy of your data"
        footer="We prepare a file with everything we hold about you. It is ready within minutes; the link works for 15 minutes."
        testId="export"
      >
        {openExport ? (
          <Block>
            <div className="progress-row">
              <label htmlFor="export-progress" className="progress-label">
                Preparing your file… {openExport.progress != null ? `${Math.round(openExport.progress)}%` : ''}
              </label>
              {openExport.progress != null ? (
                <progress
                  id="export-progress"
                  className="progress"
                  max={100}
                  value={openExport.progress}
                  data-testid="export-progress"
                />
              ) : (
                <progress id="export-progress" className="progress" data-testid="export-progress" />
              )}
            </div>
          </Block>
        ) : null}
        {readyExport && !openExport ? (
          <Cell
            icon="download"
            tone="blue"
            title="Your file is ready"
            subtitle={`Requested ${formatDateTime(readyExport.createdAt)}`}
            onClick={() => void download(readyExport)}
            testId="export-download"
          />
        ) : null}
        {!openExport ? (
          <Block>
            <Button
              variant="secondary"
              busy={busy === 'export'}
              onClick={() => void run('export', async () => void (await api.post('/api/v1/privacy/export')))}
              testId="export-start"
            >
              {readyExport ? 'Prepare a new copy' : 'Export my data'}
            </Button>
          </Block>
        ) : null}
      </Section>

      <Section
        title="Delete my data"
        footer="Erasure waits a few days so you can change your mind; then your account and data are deleted for good and your encryption key is destroyed."
        testId="erasure"
      >
        {erasure ? (
          <Block>
            <p className="block-text" data-testid="erasure-countdown">
              {erasure.effectiveAt
                ? `Your data will be deleted in ${formatCountdown(erasure.effectiveAt, now)} (${formatDateTime(erasure.effectiveAt)}).`
                : `Your request is ${erasure.status}; due by ${formatDate(erasure.extendedUntil ?? erasure.dueAt)}.`}
            </p>
            <Button
              variant="secondary"
              busy={busy === 'cancel'}
              onClick={() =>
                void run('cancel', () => api.del(`/api/v1/privacy/requests/${encodeURIComponent(erasure.id)}`))
              }
              testId="erasure-cancel"
            >
              Cancel the deletion
            </Button>
          </Block>
        ) : (
          <Block>
            <Button
              variant="destructive"
              busy={busy === 'erasure'}
              onClick={() =>
                void run('erasure', async () => void (await withStepUp(() => api.post('/api/v1/privacy/erasure'))))
              }
              testId="erasure-start"
            >
              Delete my account and data
            </Button>
          </Block>
        )}
      </Section>

      {list.length > 0 ? (
        <Section title="Your requests" testId="requests">
          {list.slice(0, 10).map((request) => (
            <Cell
              key={request.id}
              title={request.kind}
              subtitle={`${formatDate(request.createdAt)} · due ${formatDate(request.extendedUntil ?? request.dueAt)}`}
              after={<Badge tone={OPEN.has(request.status) ? 'orange' : 'gray'}>{request.status}</Badge>}
            />
          ))}
        </Section>
      ) : null}
    </>
  );
}

function Rights({ setMessage }: { setMessage: (m: Message) => void }) {
  const { api } = useApp();
  const consents = useResource<{ purposes: Purpose[] }>('/api/v1/privacy/consents');
  const restriction = useResource<{ restricted: boolean }>('/api/v1/privacy/restriction');
  const [restricted, setRestricted] = useState<boolean | null>(null);
  const [objected, setObjected] = useState<Record<string, boolean>>({});
  const [languageCode, setLanguageCode] = useState('');
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    if (consents.status !== 'ready') return;
    setObjected(Object.fromEntries(consents.data.purposes.map((p) => [p.id, p.objected === true])));
  }, [consents.status, consents.data]);

  // What was set in this visit, else what the server says.
  const shownRestricted = restricted ?? (restriction.status === 'ready' ? restriction.data.restricted : false);

  const save = async (id: string, action: () => Promise<unknown>, done: string, revert?: () => void) => {
    setBusy(id);
    try {
      await action();
      haptic.notify('success');
      setMessage({ tone: 'success', text: done });
      return true;
    } catch (error) {
      revert?.();
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
      return false;
    } finally {
      setBusy(null);
    }
  };

  // Objection (Art. 21) is for what we do on legitimate interest; consent is withdrawn with its own switch.
  const objectable =
    consents.status === 'ready'
      ? consents.data.purposes.filter(
          (p) => !p.required && p.objected !== undefined && /legitimate/i.test(p.legalBasis),
        )
      : [];

  return (
    <>
      <Section
        title="Restrict processing"
        footer="While restricted, we keep your data but use it only to run your account and meet legal duties."
      >
        <SwitchCell
          title="Restrict processing"
          checked={shownRestricted}
          busy={busy === 'restrict'}
          onChange={(value) => {
            const before = restricted;
            setRestricted(value);
            void save(
              'restrict',
              () => api.put('/api/v1/privacy/restriction', { restricted: value }),
              value ? 'Processing restricted.' : 'Restriction lifted.',
              () => setRestricted(before),
            );
          }}
          testId="restriction"
        />
      </Section>
      {objectable.length > 0 ? (
        <Section title="Object" footer="Object to a purpose based on our legitimate interest, and we stop it for you.">
          {objectable.map((purpose) => (
            <SwitchCell
              key={purpose.id}
              title={`Object to ${purpose.title.toLowerCase()}`}
              checked={objected[purpose.id] ?? false}
              busy={busy === `object-${purpose.id}`}
              onChange={(value) => {
                setObjected((o) => ({ ...o, [purpose.id]: value }));
                void save(
                  `object-${purpose.id}`,
                  () => api.put(`/api/v1/privacy/objections/${encodeURIComponent(purpose.id)}`, { objected: value }),
                  value ? 'Objection recorded.' : 'Objection withdrawn.',
                  () => setObjected((o) => ({ ...o, [purpose.id]: !value })),
                );
              }}
              testId={`objection-${purpose.id}`}
            />
          ))}
        </Section>
      ) : null}
      <Section
        title="Correct your data"
        footer="Your name and username come from Telegram and update when you open the app; your language you can correct here."
      >
        <Block>
          <form
            className="form"
            onSubmit={(event) => {
              event.preventDefault();
              const code = languageCode.trim();
              if (!/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(code)) {
                setMessage({ tone: 'error', text: 'Enter a language code such as en, de or pt-BR.' });
                return;
              }
              void save(
                'rectify',
                () => api.post('/api/v1/privacy/rectify', { languageCode: code }),
                'Language corrected.',
              ).then((ok) => {
                if (ok) setLanguageCode('');
              });
            }}
          >
            <TextField
              label="Language (e.g. en, de, pt-BR)"
              value={languageCode}
              onChange={setLanguageCode}
              maxLength={35}
              testId="rectify-language"
            />
            <Button
              type="submit"
              variant="secondary"
              busy={busy === 'rectify'}
              disabled={!languageCode.trim()}
              testId="rectify-submit"
            >
              Correct my language
            </Button>
          </form>
        </Block>
      </Section>
    </>
  );
}

export function PrivacyPage() {
  const [message, setMessage] = useState<Message>(null);
  return (
    <Page title="Privacy & data" subtitle="Your choices and your rights" testId="page-privacy">
      {message ? <Notice tone={message.tone}>{message.text}</Notice> : null}
      <Consents setMessage={setMessage} />
      <Section title="Policy">
        <li>
          <a
            className="cell cell--link"
            href="/privacy"
            target="_blank"
            rel="noopener noreferrer"
            data-testid="policy-link"
          >
            <span className="cell-icon cell-icon--gray">
              <svg
                viewBox="0 0 24 24"
                fill="none"
                stroke="currentColor"
                strokeWidth={2}
                aria-hidden="true"
                focusable="false"
              >
                <path d="M6 3h8l4 4v14H6z" />
                <path d="M14 3v4h4M9 12h6M9 16h6" />
              </svg>
            </span>
            <span className="cell-body">
              <span className="cell-text">
                <span className="cell-title">Privacy policy</span>
                <span className="cell-subtitle">What we collect, why, and for how long</span>
              </span>
            </span>
          </a>
        </li>
      </Section>
      <Requests setMessage={setMessage} />
      <Rights setMessage={setMessage} />
    </Page>
  );
}
