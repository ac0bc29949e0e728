/**
 * OAuth account linking (Google, GitHub, Discord) and sign-in with a linked account.
 * `createOAuth(deps)` wires the configured providers, the link store and the flows.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';
import type { UserFieldCipher } from '../crypto/field-cipher.ts';
import { deriveKey } from '../crypto/hash.ts';
import type { Db } from '../db/index.ts';
import { createOAuthService, type OAuthService } from './flow.ts';
import { createLinkStore, type LinkStore } from './links.ts';
import { createProviders } from './providers.ts';

export * from './errors.ts';
export * from './flow.ts';
export * from './links.ts';
export * from './providers.ts';

export interface OAuth {
  service: OAuthService;
  links: LinkStore;
}

/**
 * Builds the OAuth capability. The subject blind index uses its own key derived from the master key
 * (HKDF, purpose-bound), separate from every encryption key.
 * @example const { service, links } = createOAuth({ config, masterKey, db, cipher: userKeys, redis, prefix });
 */
export function createOAuth(deps: {
  config: Config;
  masterKey: Uint8Array;
  db: Db;
  cipher: UserFieldCipher;
  redis: Redis;
  prefix: string;
  now?: () => number;
}): OAuth {
  const links = createLinkStore({
    db: deps.db,
    cipher: deps.cipher,
    indexKey: deriveKey(deps.masterKey, 'blind-index-oauth-subject-v1'),
  });
  const service = createOAuthService({
    redis: deps.redis,
    prefix: deps.prefix,
    providers: createProviders(deps.config.oauth, { isProduction: deps.config.isProduction }),
    links,
    publicUrl: deps.config.publicUrl,
    signInRedirectUris: deps.config.oauth.signInRedirectUris,
    ...(deps.now ? { now: deps.now } : {}),
  });
  return { service, links };
}
