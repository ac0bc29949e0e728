/** The second step of sign-in (MFA challenge) and step-up before a sensitive action: one code field each. */
import { useState } from 'react';
import { type ApiClient, ApiError, type MfaChallenge } from '../../api.ts';
import { haptic, useMainButton } from '../../sdk.ts';
import { Block, Button, errorMessage, Notice, Page, Section, TextField } from '../../ui/index.tsx';

/** TOTP codes are 6 digits; backup codes are longer and may carry dashes. */
function normaliseCode(code: string): string {
  return code.replace(/\s+/g, '');
}

function CodeForm({
  submitLabel,
  onSubmit,
  allowBackup,
  onCancel,
}: {
  submitLabel: string;
  onSubmit(code: string): Promise<void>;
  allowBackup: boolean;
  onCancel?: () => void;
}) {
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const clean = normaliseCode(code);
  const valid = clean.length >= 6 && clean.length <= 32;
  const submit = async () => {
    if (!valid || busy) return;
    setBusy(true);
    setError(null);
    try {
      await onSubmit(clean);
    } catch (caught) {
      haptic.notify('error');
      setError(
        caught instanceof ApiError && caught.code === 'SECOND_FACTOR_INVALID'
          ? 'That code is not valid. Check the time on your phone and try again.'
          : errorMessage(caught),
      );
      setCode('');
      setBusy(false);
    }
  };
  // Telegram's MainButton carries the primary action; the in-page button is there when there is no client.
  const mainButton = useMainButton({
    text: submitLabel,
    onClick: () => void submit(),
    disabled: !valid,
    loading: busy,
  });
  return (
    <form
      className="form"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <TextField
        label={allowBackup ? 'Code from your authenticator app, or a backup code' : 'Code from your authenticator app'}
        value={code}
        onChange={setCode}
        inputMode={allowBackup ? 'text' : 'numeric'}
        autoComplete="one-time-code"
        maxLength={40}
        testId="mfa-code"
      />
      {error ? <Notice tone="error">{error}</Notice> : null}
      {mainButton ? null : (
        <Button type="submit" busy={busy} disabled={!valid} testId="mfa-submit">
          {submitLabel}
        </Button>
      )}
      {onCancel ? (
        <Button variant="plain" onClick={onCancel} testId="mfa-cancel">
          Cancel
        </Button>
      ) : null}
    </form>
  );
}

export function MfaChallengePage({
  api,
  challenge,
  onVerified,
}: {
  api: ApiClient;
  challenge: MfaChallenge;
  onVerified: () => Promise<void>;
}) {
  const allowBackup = challenge.methods.length === 0 || challenge.methods.includes('backup_code');
  return (
    <Page
      title="Two-step verification"
      subtitle="Your account is protected with a second factor"
      testId="mfa-challenge"
    >
      <Section footer="Open your authenticator app and enter the 6-digit code for this account. Lost your phone? Use one of your backup codes.">
        <Block>
          <CodeForm
            submitLabel="Continue"
            allowBackup={allowBackup}
            onSubmit={async (code) => {
              await api.verifyMfa(challenge.challenge, code);
              await onVerified();
            }}
          />
        </Block>
      </Section>
    </Page>
  );
}

export function StepUpPage({ api, onDone, onCancel }: { api: ApiClient; onDone: () => void; onCancel: () => void }) {
  return (
    <Page title="Confirm it’s you" subtitle="This action needs a fresh code" testId="step-up">
      <Section footer="Enter a code from your authenticator app (or a backup code). You will not be asked again for 10 minutes.">
        <Block>
          <CodeForm
            submitLabel="Confirm"
            allowBackup
            onCancel={onCancel}
            onSubmit={async (code) => {
              await api.stepUp(code);
              haptic.notify('success');
              onDone();
            }}
          />
        </Block>
      </Section>
    </Page>
  );
}
