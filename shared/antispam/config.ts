/**
 * Anti-spam settings: defaults, and the parsers for the ANTISPAM_* environment keys. Parsers return
 * `{ ok, reason }` so shared/config can list every bad key in one error, like RATE_LIMITS.
 */

export interface RateWindow {
  /** Most messages allowed in the window; one more is a flood. */
  count: number;
  seconds: number;
}

export interface AntispamConfig {
  /** Report what would be done (to the group's admins and the audit trail) without deleting or restricting. */
  dryRun: boolean;
  /** Operator stop words or phrases: a message containing one is deleted (matched on the folded text). */
  stopWords: readonly string[];
  flood: { user: RateWindow; chat: RateWindow };
  duplicate: {
    /** How long a message's fingerprint is remembered. */
    windowSeconds: number;
    /** Shorter texts (folded, in characters) are never compared: "ok", "thanks" repeat legitimately. */
    minLength: number;
    /** Fingerprints (64-bit SimHash) this many bits apart or closer are the same message. */
    maxDistance: number;
    /** The same person posting it in this many chats. */
    crossChats: number;
    /** The same person repeating it in one chat this many times. */
    repeats: number;
    /** Different people posting it in this many chats (a spam wave from many accounts). */
    waveChats: number;
  };
  newMember: {
    /** A member counts as new this long after joining… */
    windowSeconds: number;
    /** …and for this many first messages. */
    firstMessages: number;
    /** Emoji allowed in one of a new member's first messages. */
    maxEmoji: number;
  };
  /** Content score at which a message is spam (warn), and at which it earns a mute (or a ban if new). */
  scoreThresholds: { spam: number; severe: number };
  /** Warnings (within a day) before a mute. */
  warnLimit: number;
  muteSeconds: number;
  /** 0: no join challenge; otherwise the seconds a new member has to press "I'm human". */
  joinChallengeSeconds: number;
  /**
   * Per-user limit of updates in private chats (@grammyjs/ratelimiter). `flushMs`: how often a process adds the
   * updates it counted locally to the shared count in Redis (default 50 ms).
   */
  rateLimit: { limit: number; seconds: number; flushMs?: number };
}

export const DEFAULT_ANTISPAM_CONFIG: AntispamConfig = {
  dryRun: false,
  stopWords: [],
  flood: { user: { count: 5, seconds: 10 }, chat: { count: 20, seconds: 10 } },
  duplicate: { windowSeconds: 3600, minLength: 24, maxDistance: 12, crossChats: 2, repeats: 3, waveChats: 3 },
  newMember: { windowSeconds: 86_400, firstMessages: 5, maxEmoji: 5 },
  scoreThresholds: { spam: 4, severe: 7 },
  warnLimit: 3,
  muteSeconds: 3600,
  joinChallengeSeconds: 0,
  rateLimit: { limit: 20, seconds: 10 },
};

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * ANTISPAM_FLOOD: `user=5/10,chat=20/10` (messages/seconds); either part may be left out.
 * @example parseAntispamFlood('user=8/10') // { ok: true, value: { user: { count: 8, seconds: 10 }, chat: … } }
 */
export function parseAntispamFlood(raw: string | undefined): Parsed<AntispamConfig['flood']> {
  const value = { ...DEFAULT_ANTISPAM_CONFIG.flood };
  if (raw === undefined || raw.trim() === '') return { ok: true, value };
  const seen = new Set<string>();
  for (const part of raw.split(',')) {
    const match = /^\s*(user|chat)\s*=\s*(\d{1,4})\s*\/\s*(\d{1,5})\s*$/.exec(part);
    if (!match) {
      return { ok: false, reason: 'must look like user=5/10,chat=20/10 (messages/seconds for user and/or chat)' };
    }
    const [, scope, count, seconds] = match as unknown as [string, 'user' | 'chat', string, string];
    if (seen.has(scope)) return { ok: false, reason: `names ${scope} twice` };
    seen.add(scope);
    const window = { count: Number(count), seconds: Number(seconds) };
    if (window.count < 1 || window.seconds < 1 || window.seconds > 3600) {
      return { ok: false, reason: `${scope}: messages must be at least 1 and seconds from 1 to 3600` };
    }
    value[scope] = window;
  }
  return { ok: true, value };
}

/** ANTISPAM_RATE_LIMIT: `20/10` (updates/seconds per person in private chats). */
export function parseAntispamRateLimit(raw: string | undefined): Parsed<AntispamConfig['rateLimit']> {
  if (raw === undefined || raw.trim() === '') return { ok: true, value: DEFAULT_ANTISPAM_CONFIG.rateLimit };
  const match = /^\s*(\d{1,4})\s*\/\s*(\d{1,4})\s*$/.exec(raw);
  const limit = Number(match?.[1]);
  const seconds = Number(match?.[2]);
  if (!match || limit < 1 || seconds < 1 || seconds > 3600) {
    return { ok: false, reason: 'must look like 20/10 (updates/seconds, at least 1 update, 1 to 3600 seconds)' };
  }
  return { ok: true, value: { limit, seconds } };
}

/**
 * ANTISPAM_STOP_WORDS: comma-separated words or phrases (2-64 characters each, at most 200).
 * @example parseStopWords('casino, free bonus') // { ok: true, value: ['casino', 'free bonus'] }
 */
export function parseStopWords(raw: string | undefined): Parsed<readonly string[]> {
  if (raw === undefined || raw.trim() === '') return { ok: true, value: [] };
  const words = raw
    .split(',')
    .map((word) => word.trim())
    .filter(Boolean);
  const bad = words.find((word) => [...word].length < 2 || [...word].length > 64);
  if (bad !== undefined) return { ok: false, reason: 'each stop word must be 2 to 64 characters' };
  if (words.length > 200) return { ok: false, reason: 'at most 200 stop words' };
  return { ok: true, value: words };
}
