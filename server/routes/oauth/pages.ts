/**
 * The plain HTML pages the OAuth callback answers with in the person's browser: "linked, go back to Telegram"
 * or what went wrong. No script, no style, nothing loaded: they render under the API's CSP
 * (`default-src 'none'`) as they are. Every inserted value is escaped; nothing a provider sent is shown.
 */
import { translator } from '#bot/i18n/index.ts';
import { type OAuthErrorCode, OAuthErrors } from '#shared/oauth/errors.ts';

const t = translator('en');

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

function page(title: string, paragraphs: string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // The callback URL carried a code: it must not travel anywhere (the header says so too).
    '<meta name="referrer" content="no-referrer">',
    '<meta name="robots" content="noindex">',
    `<title>${escapeHtml(title)}</title>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeHtml(title)}</h1>`,
    ...paragraphs.map((text) => `<p>${escapeHtml(text)}</p>`),
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** The page after a successful link. */
export function linkedPage(providerName: string): string {
  return page(t('oauth.page.linked_title', { provider: providerName }), [
    t('oauth.page.linked_body', { provider: providerName }),
  ]);
}

/** The page for a refused callback: the error's own message and its code (for support), never a provider's text. */
export function errorPage(code: OAuthErrorCode): string {
  return page(t('oauth.page.error_title'), [
    OAuthErrors[code].message,
    t('oauth.page.error_footer'),
    t('oauth.page.code', { code }),
  ]);
}
