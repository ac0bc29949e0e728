/** Linked accounts (Google, GitHub, Discord): link through the provider's page, unlink here. */
import { useEffect, useState } from 'react';
import { useApp, useResource } from '../../context.tsx';
import { formatDate } from '../../format.ts';
import { haptic, openExternal } from '../../sdk.ts';
import {
  Badge,
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

interface Provider {
  id: 'google' | 'github' | 'discord';
  name: string;
  linked: boolean;
  displayName: string | null;
  email: string | null;
  linkedAt: string | null;
}

export function OAuthPage() {
  const { api, withStepUp } = useApp();
  const providers = useResource<{ providers: Provider[] }>('/api/v1/oauth/providers');
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: 'success' | 'error' | 'info'; text: string } | null>(null);

  const { reload } = providers;
  // Linking finishes in the provider's window: refresh the list when the user comes back.
  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState === 'visible') reload();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [reload]);

  const link = async (provider: Provider) => {
    setBusy(provider.id);
    setMessage(null);
    try {
      const { authorizationUrl } = await withStepUp(() =>
        api.post<{ authorizationUrl: string }>(`/api/v1/oauth/${provider.id}/link`),
      );
      // Only the provider's https page (or a local test provider) is opened.
      const url = new URL(authorizationUrl);
      if (url.protocol !== 'https:' && url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
        throw new Error('unexpected authorization URL');
      }
      openExternal(url.toString());
      setMessage({
        tone: 'info',
        text: `Finish in the ${provider.name} window; this list updates when you come back.`,
      });
    } catch (error) {
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  const unlink = async (provider: Provider) => {
    setBusy(provider.id);
    setMessage(null);
    try {
      await withStepUp(() => api.del(`/api/v1/oauth/${provider.id}`));
      haptic.notify('success');
      setMessage({ tone: 'success', text: `${provider.name} unlinked.` });
      providers.reload();
    } catch (error) {
      haptic.notify('error');
      setMessage({ tone: 'error', text: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <Page title="Linked accounts" subtitle="Other ways to prove it is you" testId="page-oauth">
      {message ? <Notice tone={message.tone}>{message.text}</Notice> : null}
      {providers.status === 'loading' ? <Loading /> : null}
      {providers.status === 'error' || providers.status === 'unavailable' ? (
        <ErrorState error={providers.error} onRetry={providers.reload} />
      ) : null}
      {providers.status === 'ready' && providers.data.providers.length === 0 ? (
        <Empty
          title="No providers configured"
          text="This server has no Google, GitHub or Discord sign-in set up."
          icon="link"
        />
      ) : null}
      {providers.status === 'ready' && providers.data.providers.length > 0 ? (
        <Section
          title="Providers"
          footer="A linked account can help you get back in if you lose access to Telegram."
          testId="providers"
        >
          {providers.data.providers.map((provider) => (
            <Cell
              key={provider.id}
              icon="link"
              tone={provider.linked ? 'violet' : 'gray'}
              title={provider.name}
              subtitle={
                provider.linked
                  ? `${provider.displayName ?? provider.email ?? 'Linked'} · since ${formatDate(provider.linkedAt)}`
                  : 'Not linked'
              }
              testId={`provider-${provider.id}`}
              after={
                provider.linked ? (
                  <>
                    <Badge tone="green">linked</Badge>
                    <Button
                      variant="destructive"
                      wide={false}
                      busy={busy === provider.id}
                      onClick={() => void unlink(provider)}
                    >
                      Unlink
                    </Button>
                  </>
                ) : (
                  <Button
                    variant="secondary"
                    wide={false}
                    busy={busy === provider.id}
                    onClick={() => void link(provider)}
                  >
                    Link
                  </Button>
                )
              }
            />
          ))}
        </Section>
      ) : null}
    </Page>
  );
}
