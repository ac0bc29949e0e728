/**
 * What the rules need to remember between messages: message counts per window (per sender and per chat),
 * recent fingerprints (per sender, and per fingerprint band across everyone), recent joins and warnings.
 * Two stores with one contract: Redis for the bot (shared by every process), memory for offline measurement.
 * Nothing here keeps message text: only 64-bit fingerprints, ids and counts, all expiring.
 */
import type { Redis } from 'ioredis';
import type { AntispamConfig } from './config.ts';
import type { Observation } from './rules.ts';
import { bands, hammingDistance } from './simhash.ts';

export interface ObserveInput {
  chatId: number;
  userId: number;
  atMs: number;
  /** The message's fingerprint; '' when it is too short to compare. */
  fingerprint: string;
}

export interface AntispamStore {
  /** Counts this message and returns what was seen (this message included). */
  observe(input: ObserveInput): Promise<Observation>;
  /** Remembers that `userId` joined `chatId` (their first messages get the new-member rules). */
  recordJoin(chatId: number, userId: number, atMs: number): Promise<void>;
  /** Adds a warning; returns the count within the last day. */
  addWarning(chatId: number, userId: number): Promise<number>;
  clearWarnings(chatId: number, userId: number): Promise<void>;
}

const WARNING_TTL_SECONDS = 86_400;
/** Fingerprints kept per sender and per band (older ones fall off). */
const USER_ENTRIES = 50;
const BAND_ENTRIES = 200;

interface Entry {
  fingerprint: string;
  chatId: number;
  userId: number;
  atMs: number;
}

const encode = (entry: Entry) => `${entry.fingerprint}|${entry.chatId}|${entry.userId}|${entry.atMs}`;
function decode(raw: string): Entry | undefined {
  const [fingerprint, chat, user, at] = raw.split('|');
  if (!fingerprint || chat === undefined || user === undefined || at === undefined) return undefined;
  return { fingerprint, chatId: Number(chat), userId: Number(user), atMs: Number(at) };
}

/** Duplicate figures from the remembered entries (the new message not yet among them). */
function duplicates(
  input: ObserveInput,
  userEntries: readonly Entry[],
  bandEntries: readonly Entry[],
  config: AntispamConfig,
): Pick<Observation, 'sameChatRepeats' | 'userChats' | 'waveChats' | 'waveUsers'> {
  if (input.fingerprint === '') return { sameChatRepeats: 1, userChats: 1, waveChats: 1, waveUsers: 1 };
  const since = input.atMs - config.duplicate.windowSeconds * 1000;
  const near = (entry: Entry) =>
    entry.atMs >= since && hammingDistance(entry.fingerprint, input.fingerprint) <= config.duplicate.maxDistance;
  const mine = userEntries.filter((entry) => entry.userId === input.userId && near(entry));
  const sameChatRepeats = 1 + mine.filter((entry) => entry.chatId === input.chatId).length;
  const userChats = new Set([input.chatId, ...mine.map((entry) => entry.chatId)]).size;
  const all = bandEntries.filter(near);
  const waveChats = new Set([input.chatId, ...all.map((entry) => entry.chatId)]).size;
  const waveUsers = new Set([input.userId, ...all.map((entry) => entry.userId)]).size;
  return { sameChatRepeats, userChats, waveChats, waveUsers };
}

const windowIndex = (atMs: number, seconds: number) => Math.floor(atMs / (seconds * 1000));

/** The Redis store: one pipelined round trip per message. Keys under `${prefix}:as:`. */
export function createRedisAntispamStore(redis: Redis, prefix: string, config: AntispamConfig): AntispamStore {
  const key = (...parts: (string | number)[]) => `${prefix}:as:${parts.join(':')}`;
  const joinKey = (chatId: number, userId: number) => key('j', chatId, userId);
  const warnKey = (chatId: number, userId: number) => key('w', chatId, userId);
  // Counts messages since the join while the join is remembered; -1 when there was none.
  const joinScript = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end return -1`;
  return {
    async observe(input) {
      const { user, chat } = config.flood;
      const userWindow = key('fu', input.chatId, input.userId, windowIndex(input.atMs, user.seconds));
      const chatWindow = key('fc', input.chatId, windowIndex(input.atMs, chat.seconds));
      const ttl = config.duplicate.windowSeconds;
      const pipeline = redis.multi();
      pipeline.incr(userWindow).pexpire(userWindow, user.seconds * 1000 + 1000);
      pipeline.incr(chatWindow).pexpire(chatWindow, chat.seconds * 1000 + 1000);
      pipeline.eval(joinScript, 1, joinKey(input.chatId, input.userId));
      pipeline.get(warnKey(input.chatId, input.userId));
      const entry = encode({ ...input });
      const bandKeys = bands(input.fingerprint).map((band) => key('b', band));
      const userDup = key('d', input.userId);
      if (input.fingerprint !== '') {
        pipeline
          .lrange(userDup, 0, -1)
          .lpush(userDup, entry)
          .ltrim(userDup, 0, USER_ENTRIES - 1)
          .expire(userDup, ttl);
        for (const bandKey of bandKeys) {
          pipeline
            .lrange(bandKey, 0, -1)
            .lpush(bandKey, entry)
            .ltrim(bandKey, 0, BAND_ENTRIES - 1)
            .expire(bandKey, ttl);
        }
      }
      const results = (await pipeline.exec()) ?? [];
      for (const [error] of results) if (error) throw error;
      const value = (index: number) => results[index]?.[1];
      const sinceJoin = Number(value(4));
      const warnings = Number(value(5) ?? 0);
      const lists: Entry[][] = [];
      for (let index = 6; index < results.length; index += 4) {
        lists.push(
          ((value(index) as string[] | undefined) ?? []).map(decode).filter((e): e is Entry => e !== undefined),
        );
      }
      const [userEntries = [], ...bandLists] = lists;
      const seenBand = new Set<string>();
      const bandEntries = bandLists.flat().filter((e) => {
        const id = encode(e);
        if (seenBand.has(id)) return false;
        seenBand.add(id);
        return true;
      });
      return {
        userMessages: Number(value(0)),
        chatMessages: Number(value(2)),
        ...duplicates(input, userEntries, bandEntries, config),
        isNewMember: sinceJoin > 0 && sinceJoin <= config.newMember.firstMessages,
        warnings: Number.isFinite(warnings) ? warnings : 0,
      };
    },
    async recordJoin(chatId, userId) {
      await redis.set(joinKey(chatId, userId), '0', 'EX', config.newMember.windowSeconds);
    },
    async addWarning(chatId, userId) {
      const [[, count] = []] = ((await redis
        .multi()
        .incr(warnKey(chatId, userId))
        .expire(warnKey(chatId, userId), WARNING_TTL_SECONDS)
        .exec()) ?? []) as [Error | null, unknown][];
      return Number(count);
    },
    async clearWarnings(chatId, userId) {
      await redis.del(warnKey(chatId, userId));
    },
  };
}

/** The in-memory store (one process; offline measurement and tests). Time comes from the messages. */
export function createMemoryAntispamStore(config: AntispamConfig): AntispamStore {
  const counters = new Map<string, number>();
  const joins = new Map<string, { atMs: number; messages: number }>();
  const warnings = new Map<string, number>();
  const entries: Entry[] = [];
  return {
    async observe(input) {
      const { user, chat } = config.flood;
      const bump = (name: string) => {
        const count = (counters.get(name) ?? 0) + 1;
        counters.set(name, count);
        return count;
      };
      const userMessages = bump(`u:${input.chatId}:${input.userId}:${windowIndex(input.atMs, user.seconds)}`);
      const chatMessages = bump(`c:${input.chatId}:${windowIndex(input.atMs, chat.seconds)}`);
      const join = joins.get(`${input.chatId}:${input.userId}`);
      let isNewMember = false;
      if (join && input.atMs - join.atMs <= config.newMember.windowSeconds * 1000) {
        join.messages += 1;
        isNewMember = join.messages <= config.newMember.firstMessages;
      }
      const since = input.atMs - config.duplicate.windowSeconds * 1000;
      while (entries.length > 0 && (entries[0]?.atMs ?? 0) < since) entries.shift();
      const dup = duplicates(input, entries, entries, config);
      if (input.fingerprint !== '') entries.push({ ...input });
      return {
        userMessages,
        chatMessages,
        ...dup,
        isNewMember,
        warnings: warnings.get(`${input.chatId}:${input.userId}`) ?? 0,
      };
    },
    async recordJoin(chatId, userId, atMs) {
      joins.set(`${chatId}:${userId}`, { atMs, messages: 0 });
    },
    async addWarning(chatId, userId) {
      const count = (warnings.get(`${chatId}:${userId}`) ?? 0) + 1;
      warnings.set(`${chatId}:${userId}`, count);
      return count;
    },
    async clearWarnings(chatId, userId) {
      warnings.delete(`${chatId}:${userId}`);
    },
  };
}
