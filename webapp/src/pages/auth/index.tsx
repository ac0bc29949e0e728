/** Screens before sign-in: opened outside Telegram (with the development signer when the server offers it),
 * and sign-in problems explained in plain words. */
import { useEffect, useState } from 'react';
import { ApiError } from '../../api.ts';
import { Block, Button, Icon, Notice, Page, Section, TextField } from '../../ui/index.tsx';

const REOPEN_CODES = new Set([
  'INIT_DATA_EXPIRED',
  'INIT_DATA_REPLAYED',
  'INIT_DATA_SIGNATURE_INVALID',
  'INIT_DATA_MALFORMED',
  'INIT_DATA_HASH_MISSING',
  'INIT_DATA_AUTH_DATE_INVALID',
  'INIT_DATA_USER_MISSING',
  'SESSION_REVOKED',
  'SESSION_ENDED',
  'REFRESH_TOKEN_REUSED',
  'REFRESH_TOKEN_INVALID',
  'REFRESH_TOKEN_EXPIRED',
  'MFA_CHALLENGE_EXPIRED',
]);

function problemText(error: unknown): { title: string; text: string } {
  if (error instanceof ApiError) {
    if (error.code === 'ACCOUNT_NOT_ACTIVE') {
      return { title: 'Account not active', text: 'This account is not active. Contact the administrator.' };
    }
    if (error.code.startsWith('SESSION') || error.code.startsWith('REFRESH')) {
      return {
        title: 'You were signed out',
        text: 'This session has ended. Close the app and open it again from the bot to sign in.',
      };
    }
    if (REOPEN_CODES.has(error.code)) {
      return {
        title: 'Please reopen the app',
        text: 'This sign-in link has expired or was already used. Close the app and open it again from the bot.',
      };
    }
    if (error.code === 'RATE_LIMITED') return { title: 'Too many attempts', text: 'Wait a minute, then try again.' };
    return { title: 'Sign-in failed', text: error.message };
  }
  return { title: 'Sign-in failed', text: 'Something went wrong. Close the app and open it again from the bot.' };
}

export function SignInProblemPage({ error }: { error: unknown }) {
  const { title, text } = problemText(error);
  return (
    <Page title={title} testId="sign-in-problem">
      <div className="state state--error" role="alert">
        <Icon name="alert" className="state-icon" />
        <p className="state-text" data-testid="sign-in-problem-text">
          {text}
        </p>
      </div>
    </Page>
  );
}

export function OutsideTelegramPage({ onDevInitData }: { onDevInitData?: ((initData: string) => void) | undefined }) {
  const [devSigner, setDevSigner] = useState(false);
  useEffect(() => {
    if (!onDevInitData) return;
    // Present only in development with DEV_SIGNER_ENABLED; production has no such route (404).
    fetch('/api/v1/dev/signer', { credentials: 'omit', cache: 'no-store' })
      .then((response) => setDevSigner(response.ok))
      .catch(() => setDevSigner(false));
  }, [onDevInitData]);

  return (
    <Page title="Open in Telegram" subtitle="This app runs inside Telegram" testId="outside-telegram">
      <div className="hero">
        <span className="hero-icon">
          <Icon name="telegram" />
        </span>
        <p className="hero-text" data-testid="outside-text">
          Your account, sign-in and privacy settings open from our bot, so Telegram can prove it is you. There is no
          password to type here.
        </p>
      </div>
      <Section title="How to open it">
        <Block>
          <ol className="steps">
            <li>Open Telegram on your phone or computer.</li>
            <li>Find the bot and start a chat with it (send /start).</li>
            <li>Tap the “Open” button next to the message field, or the button in the bot’s reply.</li>
          </ol>
        </Block>
      </Section>
      {devSigner && onDevInitData ? <DevSignIn onInitData={onDevInitData} /> : null}
    </Page>
  );
}

function DevSignIn({ onInitData }: { onInitData: (initData: string) => void }) {
  const [telegramId, setTelegramId] = useState('100000001');
  const [firstName, setFirstName] = useState('Dev');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const response = await fetch('/api/v1/dev/init-data', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ telegramId: Number(telegramId), firstName }),
        credentials: 'omit',
      });
      const body = (await response.json()) as { initData?: string; error?: { message?: string } };
      if (!response.ok || !body.initData) throw new Error(body.error?.message ?? 'The signer refused.');
      onInitData(body.initData);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : 'The signer refused.');
      setBusy(false);
    }
  };
  return (
    <Section title="Development" footer="Only shown when the server runs with DEV_SIGNER_ENABLED outside production.">
      <Block>
        <form
          className="form"
          onSubmit={(event) => {
            event.preventDefault();
            void submit();
          }}
        >
          <TextField
            label="Telegram id"
            value={telegramId}
            onChange={setTelegramId}
            inputMode="numeric"
            testId="dev-id"
          />
          <TextField label="First name" value={firstName} onChange={setFirstName} maxLength={64} testId="dev-name" />
          {error ? <Notice tone="error">{error}</Notice> : null}
          <Button type="submit" busy={busy} testId="dev-sign-in">
            Sign in as this test user
          </Button>
        </form>
      </Block>
    </Section>
  );
}
