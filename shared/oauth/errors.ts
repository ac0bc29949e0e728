/**
 * OAuth errors: the API answers them as `{ error: { code, message } }`, the callback as an HTML page with the
 * same code. Messages say what to do next; none repeats what a provider sent (it is not ours to echo).
 */
import { defineErrorCodes, errorFactory } from '../errors.ts';

export const OAuthErrors = defineErrorCodes({
  OAUTH_PROVIDER_UNKNOWN: { status: 404, message: 'That sign-in provider is not offered on this server.' },
  OAUTH_NOT_LINKED: { status: 404, message: 'No account of that provider is linked.' },
  OAUTH_STATE_INVALID: {
    status: 400,
    message: 'This link request is unknown, was already used or has expired (10 minutes). Start again from the app.',
  },
  OAUTH_CALLBACK_INVALID: {
    status: 400,
    message: 'The provider’s answer is not valid for this request. Start again from the app.',
  },
  OAUTH_ACCESS_DENIED: {
    status: 400,
    message: 'The provider did not grant access (you may have cancelled). Start again from the app if you want to.',
  },
  OAUTH_CODE_REJECTED: {
    status: 400,
    message: 'The provider refused to complete this request (it may have been used already). Start again from the app.',
  },
  OAUTH_ID_TOKEN_INVALID: {
    status: 400,
    message: 'The provider’s identity token did not pass our checks. Start again from the app.',
  },
  OAUTH_PROVIDER_ERROR: {
    status: 503,
    message: 'The provider answered with an error. Try again in a few minutes.',
  },
  OAUTH_PROVIDER_TIMEOUT: {
    status: 503,
    message: 'The provider did not answer in time. Try again in a few minutes.',
  },
  OAUTH_ACCOUNT_LINKED_ELSEWHERE: {
    status: 409,
    message:
      'This account is already linked to another Telegram user. Unlink it there first; accounts are never merged.',
  },
  OAUTH_PROVIDER_ALREADY_LINKED: {
    status: 409,
    message: 'You already linked another account of this provider. Unlink it first, then link the new one.',
  },
  OAUTH_ACCOUNT_INACTIVE: {
    status: 403,
    message: 'This Telegram account is not active (blocked or deleted), so nothing can be linked to it.',
  },
  OAUTH_ACCOUNT_UNKNOWN: {
    status: 403,
    message: 'This account is not linked to anyone here. Link it from the Telegram app first, then sign in with it.',
  },
  OAUTH_REDIRECT_URI_NOT_ALLOWED: {
    status: 400,
    message:
      'redirectUri must be a loopback URI (http://127.0.0.1:<port>/…) or one listed in OAUTH_SIGNIN_REDIRECT_URIS.',
  },
  OAUTH_EXCHANGE_INVALID: {
    status: 400,
    message: 'This sign-in code is unknown, was already used, has expired, or the verifier does not match.',
  },
});
export type OAuthErrorCode = keyof typeof OAuthErrors;

/** `throw oauthError('OAUTH_NOT_LINKED')` */
export const oauthError = errorFactory(OAuthErrors);
