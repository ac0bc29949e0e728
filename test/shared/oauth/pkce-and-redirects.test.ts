/**
 * Threat: a sign-in result delivered to someone else's site (an open redirect in the external sign-in), or a
 * PKCE check that does not compute what RFC 7636 says. S256 is checked against the RFC's own vector; only
 * loopback IP literals (RFC 8252 7.3) and exactly configured URIs are accepted as client redirects.
 */
import { describe, expect, it } from 'vitest';
import { isAllowedClientRedirect, s256 } from '#shared/oauth/flow.ts';

describe('PKCE S256', () => {
  it('matches RFC 7636 Appendix B', () => {
    expect(s256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });
});

describe('client redirect URIs for external sign-in', () => {
  const configured = ['https://app.example.com/oauth/done'];
  it.each([
    'http://127.0.0.1:8080/cb',
    'http://127.0.0.1/cb',
    'http://[::1]:9000/',
    'https://app.example.com/oauth/done',
  ])('accepts %s', (uri) => {
    expect(isAllowedClientRedirect(uri, configured)).toBe(true);
  });

  it.each([
    'https://app.example.com/oauth/done/',
    'https://app.example.com/oauth/done?x=1',
    'https://app.example.com.evil.example/oauth/done',
    'https://127.0.0.1/cb', // loopback is http only; https needs to be configured
    'http://localhost:8080/cb', // a name can be re-pointed; RFC 8252 asks for the IP literal
    'http://127.0.0.1.evil.example/cb',
    'http://user:pass@127.0.0.1/cb',
    'http://127.0.0.1:8080/cb#frag',
    'javascript:alert(1)',
    'not a url',
  ])('refuses %s', (uri) => {
    expect(isAllowedClientRedirect(uri, configured)).toBe(false);
  });
});
