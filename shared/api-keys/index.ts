/**
 * API keys for external REST clients: the key format (prefix, base62 body, CRC32 checksum), the service that
 * creates, lists, rotates, revokes and authenticates keys, and its error codes.
 */
export { type ApiKeyErrorCode, ApiKeyErrors, apiKeyError } from './errors.ts';
export {
  API_KEY_BODY_LENGTH,
  API_KEY_CHECKSUM_LENGTH,
  API_KEY_LENGTH,
  API_KEY_PREFIX,
  type ApiKeyParseResult,
  apiKeyChecksum,
  apiKeyDisplayPrefix,
  BASE62_ALPHABET,
  generateApiKey,
  looksLikeApiKey,
  parseApiKey,
  randomBase62,
} from './format.ts';
export {
  API_KEY_DEFAULT_EXPIRY_DAYS,
  API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE,
  API_KEY_LAST_USED_WRITE_INTERVAL_SECONDS,
  API_KEY_LIST_EXPIRED_DAYS,
  API_KEY_MAX_EXPIRY_DAYS,
  API_KEY_MAX_RATE_LIMIT_PER_MINUTE,
  API_KEY_NAME_MAX_LENGTH,
  API_KEY_RATE_WINDOW_SECONDS,
  API_KEY_ROTATION_GRACE_SECONDS,
  type ApiKeyActionContext,
  type ApiKeyNotification,
  type ApiKeyService,
  type ApiKeyServiceDeps,
  type ApiKeyStatus,
  type ApiKeyTargetInput,
  type ApiKeyView,
  type CreateApiKeyInput,
  type CreatedApiKey,
  createApiKeyService,
  defaultScopes,
  effectiveScopes,
  MAX_API_KEYS_PER_USER,
  type RotatedApiKey,
} from './service.ts';
