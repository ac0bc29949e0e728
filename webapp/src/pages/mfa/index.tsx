/** Two-factor authentication: status, enrolment with the QR code, backup codes, turning it off. */
import { useState } from 'react';
import { useApp, useResource } from '../../context.tsx';
import { formatDateTime, plural } from '../../format.ts';
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
  SecretBox,
  Section,
  TextField,
} from '../../ui/index.tsx';

interface MfaStatus {
  enabled: boolean;
  enrolledAt: string | null;
  backupCodesRemaining: number;
  pendingReset: { effectiveAt: string } | null;
  lockedUntil: string | null;
}
interface Enrolment {
  otpauthUri: string;
  secret: string;
  qrDataUrl: string;
}

type Mode = 'idle' | 'regenerate' | 'disable';

function BackupCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <Section
      title="Backup codes"
      footer="Each code works once. Keep them somewhere safe, away from your phone. They are shown only now."
      testId="backup-codes"
    >
      <Block>
        <ul className="codes">
          {codes.map((code) => (
            <li key={code}>
              <code>{code}</code>
            </li>
          ))}
        </ul>
        <SecretBox label="All codes" value={codes.join('\n')} />
        <Button variant="secondary" onClick={onDone} testId="backup-codes-done">
          I have saved them
        </Button>
      </Block>
    </Section>
  );
}

export function MfaPage() {
  const { api } = useApp();
  const status = useResource<MfaStatus>('/api/v1/mfa');
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState('');
  const [mode, setMode] = useState<Mode>('idle');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setMessage(null);
    try {
      await action();
      haptic.notify('success');
    } catch (error) {
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(false);
      setCode('');
    }
  };

  const startEnrolment = () => run(async () => setEnrolment(await api.post<Enrolment>('/api/v1/mfa/enrolment')));
  const confirm = () =>
    run(async () => {
      const result = await api.post<{ backupCodes: string[] }>('/api/v1/mfa/enrolment/confirm', { code: code.trim() });
      setEnrolment(null);
      setCodes(result.backupCodes);
      setMessage({ tone: 'success', text: 'Two-factor authentication is on.' });
      status.reload();
    });
  const regenerate = () =>
    run(async () => {
      const result = await api.post<{ backupCodes: string[] }>('/api/v1/mfa/backup-codes', { code: code.trim() });
      setCodes(result.backupCodes);
      setMode('idle');
      status.reload();
    });
  const disable = () =>
    run(async () => {
      await api.post('/api/v1/mfa/disable', { code: code.trim() });
      setMode('idle');
      setMessage({ tone: 'success', text: 'Two-factor authentication is off.' });
      status.reload();
    });
  const cancelReset = () =>
    run(async () => {
      await api.del('/api/v1/mfa/reset');
      setMessage({ tone: 'success', text: 'The reset was cancelled.' });
      status.reload();
    });

  const codeForm = (label: string, onSubmit: () => void, destructive = false) => (
    <form
      className="form"
      onSubmit={(event) => {
        event.preventDefault();
        if (code.trim().length >= 6) onSubmit();
      }}
    >
      <TextField
        label="Code from your authenticator app"
        value={code}
        onChange={setCode}
        inputMode="numeric"
        autoComplete="one-time-code"
        maxLength={40}
        testId="mfa-settings-code"
      />
      <Button
        type="submit"
        variant={destructive ? 'destructive' : 'primary'}
        busy={busy}
        disabled={code.trim().length < 6}
        testId="mfa-settings-submit"
      >
        {label}
      </Button>
    </form>
  );

  return (
    <Page title="Two-factor authentication" subtitle="A code from your phone, on top of Telegram" testId="page-mfa">
      {message ? <Notice tone={message.tone}>{message.text}</Notice> : null}
      {codes ? <BackupCodes codes={codes} onDone={() => setCodes(null)} /> : null}
      {status.status === 'loading' ? <Loading /> : null}
      {status.status === 'error' || status.status === 'unavailable' ? (
        <ErrorState error={status.error} onRetry={status.reload} />
      ) : null}
      {status.status === 'ready' ? (
        <>
          <Section title="Status" testId="mfa-status">
            <Cell
              icon="shield"
              tone={status.data.enabled ? 'green' : 'gray'}
              title="Authenticator app"
              subtitle={status.data.enabled ? `On since ${formatDateTime(status.data.enrolledAt)}` : 'Off'}
              after={<Badge tone={status.data.enabled ? 'green' : 'gray'}>{status.data.enabled ? 'on' : 'off'}</Badge>}
            />
            {status.data.enabled ? (
              <Cell
                icon="key"
                tone="orange"
                title="Backup codes"
                subtitle={`${plural(status.data.backupCodesRemaining, 'code', 'codes')} left`}
              />
            ) : null}
          </Section>
          {status.data.lockedUntil ? (
            <Notice tone="error">Too many wrong codes: locked until {formatDateTime(status.data.lockedUntil)}.</Notice>
          ) : null}
          {status.data.pendingReset ? (
            <Section
              title="Reset requested"
              footer="An administrator asked to reset your two-factor. If that was not you, cancel it now."
            >
              <Block>
                <p className="block-text">Takes effect {formatDateTime(status.data.pendingReset.effectiveAt)}.</p>
                <Button variant="destructive" busy={busy} onClick={() => void cancelReset()} testId="mfa-cancel-reset">
                  Cancel the reset
                </Button>
              </Block>
            </Section>
          ) : null}

          {!status.data.enabled && !enrolment ? (
            <Section footer="You will need an authenticator app such as Google Authenticator, 1Password or Aegis.">
              <Block>
                <Button busy={busy} onClick={() => void startEnrolment()} testId="mfa-enrol">
                  Set up two-factor
                </Button>
              </Block>
            </Section>
          ) : null}

          {enrolment ? (
            <Section title="Scan the code" footer="Then enter the 6-digit code the app shows." testId="mfa-enrolment">
              <Block>
                <img
                  className="qr"
                  src={enrolment.qrDataUrl}
                  alt="QR code to add this account to your authenticator app"
                  width={200}
                  height={200}
                />
                <SecretBox label="Or type this key" value={enrolment.secret} testId="mfa-secret" />
                {codeForm('Turn on', () => void confirm())}
              </Block>
            </Section>
          ) : null}

          {status.data.enabled ? (
            <Section title="Manage">
              {mode === 'idle' ? (
                <>
                  <Cell
                    icon="key"
                    tone="blue"
                    title="New backup codes"
                    chevron
                    onClick={() => setMode('regenerate')}
                    testId="mfa-regenerate"
                  />
                  <Cell
                    icon="trash"
                    tone="red"
                    title="Turn off two-factor"
                    destructive
                    chevron
                    onClick={() => setMode('disable')}
                    testId="mfa-disable"
                  />
                </>
              ) : (
                <Block>
                  <p className="block-text">
                    {mode === 'regenerate'
                      ? 'New codes replace all the old ones.'
                      : 'Your account will be protected by Telegram alone.'}
                  </p>
                  {codeForm(
                    mode === 'regenerate' ? 'Make new codes' : 'Turn off',
                    () => void (mode === 'regenerate' ? regenerate() : disable()),
                    mode === 'disable',
                  )}
                  <Button variant="plain" onClick={() => setMode('idle')}>
                    Cancel
                  </Button>
                </Block>
              )}
            </Section>
          ) : null}
        </>
      ) : null}
    </Page>
  );
}
