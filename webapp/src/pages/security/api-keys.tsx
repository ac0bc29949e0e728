/** API keys: create (the key is shown once, with copy), list by prefix, rotate and revoke. */
import { useState } from 'react';
import { useApp, useResource } from '../../context.tsx';
import { formatDate, formatDateTime } from '../../format.ts';
import { haptic } from '../../sdk.ts';
import {
  Badge,
  Block,
  Button,
  Empty,
  ErrorState,
  errorMessage,
  Loading,
  Notice,
  Page,
  SecretBox,
  Section,
  TextField,
} from '../../ui/index.tsx';

interface ApiKey {
  id: string;
  name: string;
  displayPrefix: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  status: 'active' | 'rotating' | 'expired' | 'revoked';
}

const STATUS_TONE = { active: 'green', rotating: 'orange', expired: 'gray', revoked: 'red' } as const;

export function ApiKeysPage() {
  const { api } = useApp();
  const keys = useResource<{ apiKeys: ApiKey[] }>('/api/v1/api-keys');
  const [name, setName] = useState('');
  const [shown, setShown] = useState<{ key: string; name: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);

  const act = async (id: string, action: () => Promise<void>) => {
    setBusy(id);
    setMessage(null);
    try {
      await action();
      haptic.notify('success');
      keys.reload();
    } catch (error) {
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  const create = () =>
    act('create', async () => {
      const created = await api.post<{ key: string; apiKey: ApiKey }>('/api/v1/api-keys', { name: name.trim() });
      setShown({ key: created.key, name: created.apiKey.name });
      setName('');
    });

  const rotate = (key: ApiKey) =>
    act(key.id, async () => {
      const rotated = await api.post<{ key: string; apiKey: ApiKey }>(`/api/v1/api-keys/${key.id}/rotate`);
      setShown({ key: rotated.key, name: rotated.apiKey.name });
      setMessage({ tone: 'success', text: 'Rotated: the old key keeps working for 24 hours.' });
    });

  const revoke = (key: ApiKey) =>
    act(key.id, async () => {
      await api.del(`/api/v1/api-keys/${key.id}`);
      setMessage({ tone: 'success', text: `Revoked “${key.name}”.` });
    });

  const list = keys.status === 'ready' ? keys.data.apiKeys.filter((key) => key.status !== 'revoked') : [];

  return (
    <Page title="API keys" subtitle="Let scripts and services use the API as you" testId="page-api-keys">
      {message ? <Notice tone={message.tone}>{message.text}</Notice> : null}
      {shown ? (
        <Section
          title="Your new key"
          footer="Copy it now: it is shown only once. We keep only a hash of it."
          testId="api-key-shown"
        >
          <Block>
            <SecretBox label={shown.name} value={shown.key} testId="api-key-secret" />
            <Button variant="secondary" onClick={() => setShown(null)} testId="api-key-done">
              I have saved it
            </Button>
          </Block>
        </Section>
      ) : null}

      <Section title="New key">
        <Block>
          <form
            className="form"
            onSubmit={(event) => {
              event.preventDefault();
              if (name.trim()) void create();
            }}
          >
            <TextField
              label="Name"
              value={name}
              onChange={setName}
              maxLength={64}
              placeholder="e.g. backup script"
              testId="api-key-name"
            />
            <Button type="submit" busy={busy === 'create'} disabled={!name.trim()} testId="api-key-create">
              Create key
            </Button>
          </form>
        </Block>
      </Section>

      {keys.status === 'loading' ? <Loading /> : null}
      {keys.status === 'error' || keys.status === 'unavailable' ? (
        <ErrorState error={keys.error} onRetry={keys.reload} />
      ) : null}
      {keys.status === 'ready' && list.length === 0 ? (
        <Empty title="No API keys" text="Create one above when a script needs access." icon="key" />
      ) : null}
      {list.length > 0 ? (
        <Section title="Your keys" testId="api-keys-list">
          {list.map((key) => (
            <li key={key.id} className="block key-row" data-testid="api-key-row">
              <div className="key-head">
                <span className="cell-title">{key.name}</span>
                <Badge tone={STATUS_TONE[key.status]}>{key.status}</Badge>
              </div>
              <code className="key-prefix" data-testid="api-key-prefix">
                {key.displayPrefix}
              </code>
              <p className="cell-subtitle">
                Expires {formatDate(key.expiresAt)} · last used{' '}
                {key.lastUsedAt ? formatDateTime(key.lastUsedAt) : 'never'}
              </p>
              <div className="button-row">
                <Button
                  variant="secondary"
                  wide={false}
                  busy={busy === key.id}
                  onClick={() => void rotate(key)}
                  testId="api-key-rotate"
                >
                  Rotate
                </Button>
                <Button
                  variant="destructive"
                  wide={false}
                  busy={busy === key.id}
                  onClick={() => void revoke(key)}
                  testId="api-key-revoke"
                >
                  Revoke
                </Button>
              </div>
            </li>
          ))}
        </Section>
      ) : null}
    </Page>
  );
}
