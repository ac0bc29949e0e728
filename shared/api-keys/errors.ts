/**
 * Rule violations of the api-keys capability. Expected outcomes of authentication (a bad, revoked or expired
 * key, a key over its limit) are not errors: `authenticate` returns them (see `ApiKeyAuthResult`).
 */
import { defineErrorCodes, errorFactory } from '../errors.ts';

/** Every code this capability throws, with its HTTP status and a message saying what to do next. */
export const ApiKeyErrors = defineErrorCodes({
  API_KEY_NOT_FOUND: {
    status: 404,
    message: 'No such API key. List your keys with GET /api/v1/api-keys.',
  },
  API_KEY_NAME_INVALID: {
    status: 400,
    message: 'Give the key a name of 1 to 64 characters, without line breaks.',
  },
  API_KEY_SCOPES_EMPTY: {
    status: 400,
    message: 'Give the key at least one scope.',
  },
  API_KEY_SCOPE_UNKNOWN: {
    status: 400,
    message: 'One of the scopes is not a known permission.',
  },
  API_KEY_SCOPE_NOT_ALLOWED: {
    status: 403,
    message: 'A key cannot have a scope your own role lacks. Remove that scope and try again.',
  },
  API_KEY_EXPIRY_INVALID: {
    status: 400,
    message: 'Choose an expiry of 1 to 365 days.',
  },
  API_KEY_RATE_LIMIT_INVALID: {
    status: 400,
    message: 'Choose a rate limit of 1 to 6000 requests per minute.',
  },
  API_KEY_LIMIT_REACHED: {
    status: 409,
    message: 'You have the most API keys allowed. Revoke one you no longer use, then try again.',
  },
  API_KEY_NOT_ACTIVE: {
    status: 409,
    message: 'This key has expired or has already been rotated: rotate its replacement, or create a new key.',
  },
  API_KEY_OWNER_INACTIVE: {
    status: 403,
    message: 'This account cannot create or rotate API keys.',
  },
  API_KEY_CANNOT_MANAGE_KEYS: {
    status: 403,
    message: 'API keys cannot create or rotate keys. Sign in (Mini App or bot) to manage your keys.',
  },
});

/** A code of {@link ApiKeyErrors}. */
export type ApiKeyErrorCode = keyof typeof ApiKeyErrors;

/**
 * Builds a DomainError of this capability.
 * @example throw apiKeyError('API_KEY_NOT_FOUND');
 */
export const apiKeyError = errorFactory(ApiKeyErrors);
