/**
 * Anti-spam for groups and private chats, independent of the bot framework: features of a message, what the
 * store has seen, and pure rules give a verdict (none, delete, warn, mute, ban, with reason codes). The bot
 * (bot/features/antispam.ts) applies verdicts; fixtures measure precision and recall offline.
 */
import type { AntispamConfig } from './config.ts';
import { extractFeatures, type MessageFeatures, type SpamMessage } from './features.ts';
import { evaluate, type Verdict } from './rules.ts';
import type { AntispamStore } from './store.ts';

export * from './config.ts';
export * from './features.ts';
export * from './normalize.ts';
export * from './rules.ts';
export * from './simhash.ts';
export * from './store.ts';

export interface Antispam {
  readonly config: AntispamConfig;
  readonly store: AntispamStore;
  /** Judges a message and counts it in the store. */
  check(message: SpamMessage): Promise<Verdict & { features: MessageFeatures }>;
}

/** @example const antispam = createAntispam(config, createRedisAntispamStore(redis, 'tsp', config)); */
export function createAntispam(config: AntispamConfig, store: AntispamStore): Antispam {
  return {
    config,
    store,
    async check(message) {
      const features = extractFeatures(message, config.stopWords);
      const comparable = features.skeleton.length >= config.duplicate.minLength;
      const seen = await store.observe({
        chatId: message.chatId,
        userId: message.userId,
        atMs: message.atMs,
        fingerprint: comparable ? features.fingerprint : '',
      });
      return { ...evaluate(message, features, seen, config), features };
    },
  };
}
