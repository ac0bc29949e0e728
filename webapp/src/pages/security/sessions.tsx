/** Where you are signed in: every session with its client, network and times; end one, or all others. */
import { useState } from 'react';
import { useApp, useResource } from '../../context.tsx';
import { formatDateTime } from '../../format.ts';
import { haptic } from '../../sdk.ts';
import {
  Badge,
  Block,
  Button,
  Cell,
  Empty,
  ErrorState,
  errorMessage,
  Loading,
  Notice,
  Page,
  Section,
} from '../../ui/index.tsx';

interface Session {
  id: string;
  client: string;
  ip: string;
  createdAt: string;
  lastSeenAt: string;
  current: boolean;
}

export function SessionsPage() {
  const { api } = useApp();
  const sessions = useResource<{ sessions: Session[] }>('/api/v1/sessions');
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);

  const revoke = async (id: string) => {
    setBusy(id);
    setMessage(null);
    try {
      await api.del(`/api/v1/sessions/${encodeURIComponent(id)}`);
      haptic.notify('success');
      setMessage({ tone: 'success', text: 'Session ended.' });
      sessions.reload();
    } catch (error) {
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  const revokeOthers = async () => {
    setBusy('others');
    setMessage(null);
    try {
      const { revoked } = await api.post<{ revoked: number }>('/api/v1/sessions/revoke-others');
      haptic.notify('success');
      setMessage({
        tone: 'success',
        text: revoked === 1 ? 'Ended 1 other session.' : `Ended ${revoked} other sessions.`,
      });
      sessions.reload();
    } catch (error) {
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <Page title="Sessions" subtitle="Where you are signed in" testId="page-sessions">
      {message ? <Notice tone={message.tone}>{message.text}</Notice> : null}
      {sessions.status === 'loading' ? <Loading /> : null}
      {sessions.status === 'error' || sessions.status === 'unavailable' ? (
        <ErrorState error={sessions.error} onRetry={sessions.reload} />
      ) : null}
      {sessions.status === 'ready' ? (
        sessions.data.sessions.length === 0 ? (
          <Empty title="No sessions" text="You are not signed in anywhere else." />
        ) : (
          <>
            <Section
              title="Active sessions"
              footer="A session you do not recognise? End it, then check your two-factor settings."
              testId="sessions-list"
            >
              {sessions.data.sessions.map((session) => (
                <Cell
                  key={session.id}
                  icon="sessions"
                  tone={session.current ? 'green' : 'blue'}
                  title={session.client}
                  subtitle={`${session.ip || 'unknown network'} · last active ${formatDateTime(session.lastSeenAt)}`}
                  testId={`session-${session.current ? 'current' : 'other'}`}
                  after={
                    session.current ? (
                      <Badge tone="green">this device</Badge>
                    ) : (
                      <Button
                        variant="destructive"
                        wide={false}
                        busy={busy === session.id}
                        onClick={() => void revoke(session.id)}
                        testId="session-revoke"
                      >
                        End
                      </Button>
                    )
                  }
                />
              ))}
            </Section>
            {sessions.data.sessions.some((s) => !s.current) ? (
              <Section>
                <Block>
                  <Button
                    variant="destructive"
                    busy={busy === 'others'}
                    onClick={() => void revokeOthers()}
                    testId="sessions-revoke-others"
                  >
                    End all other sessions
                  </Button>
                </Block>
              </Section>
            ) : null}
          </>
        )
      ) : null}
    </Page>
  );
}
