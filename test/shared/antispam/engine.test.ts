/**
 * The rules engine on its own: text folding against Unicode tricks, near-duplicate fingerprints, each rule's
 * verdict, and the strict parsing of the ANTISPAM_* settings.
 */
import { describe, expect, it } from 'vitest';
import { en } from '#bot/i18n/en.ts';
import {
  type AntispamConfig,
  countMixedScriptWords,
  createAntispam,
  createMemoryAntispamStore,
  DEFAULT_ANTISPAM_CONFIG,
  EMPTY_OBSERVATION,
  evaluate,
  extractFeatures,
  hammingDistance,
  normaliseText,
  parseAntispamFlood,
  parseAntispamRateLimit,
  parseStopWords,
  REASON_CODES,
  type SpamMessage,
  simhash,
  skeleton,
} from '#shared/antispam/index.ts';
import { ConfigError, parseConfig } from '#shared/config/index.ts';

const base: SpamMessage = { chatId: -100, userId: 7, chatType: 'supergroup', atMs: 1_000_000, text: '' };
const msg = (text: string, extra: Partial<SpamMessage> = {}): SpamMessage => ({ ...base, text, ...extra });
const judge = (text: string, seen = {}, extra: Partial<SpamMessage> = {}, config = DEFAULT_ANTISPAM_CONFIG) => {
  const message = msg(text, extra);
  return evaluate(message, extractFeatures(message, config.stopWords), { ...EMPTY_OBSERVATION, ...seen }, config);
};

describe('normalisation', () => {
  it('folds full-width and styled letters (NFKC) and drops zero-width characters', () => {
    expect(normaliseText('ＦＲＥＥ')).toBe('free');
    expect(skeleton('𝐅𝐑𝐄𝐄 𝐜𝐫𝐲𝐩𝐭𝐨')).toBe('free crypto');
    expect(skeleton('fr\u200bee cr\u200dyp\u2060to')).toBe('free crypto');
  });

  it('folds Cyrillic and Greek look-alikes, leetspeak and spaced-out letters', () => {
    expect(skeleton('Frее bitсоin')).toBe('free bitcoin'); // е, с, о are Cyrillic
    expect(skeleton('fr33 b1tc0in')).toBe('free bitcoin');
    expect(skeleton('f.r.e.e  m o n e y')).toBe('free money');
    expect(skeleton('ｆｒｅｅ ΒΙΤCOΙΝ')).toBe('free bitcoin');
  });

  it('counts words that mix Latin and Cyrillic, not plain Russian or plain English', () => {
    expect(countMixedScriptWords('Frее money')).toBe(1);
    expect(countMixedScriptWords('Привет всем, hello all')).toBe(0);
  });

  it('leaves digits alone in numbers ("2024", "10:30")', () => {
    expect(skeleton('Meet at 10:30 in 2024')).toBe('meet at 10 30 in 2024');
  });
});

describe('fingerprints', () => {
  it('puts light rewordings close and unrelated texts far apart', () => {
    const a = simhash(skeleton('Join our VIP crypto signals group today and earn 300% profit in a week link'));
    const b = simhash(skeleton('Join our VIP crypto signals group today and earn 300% profit in one week link'));
    const c = simhash(skeleton('Does anyone know when the next meetup is happening? I missed the announcement'));
    expect(hammingDistance(a, b)).toBeLessThanOrEqual(DEFAULT_ANTISPAM_CONFIG.duplicate.maxDistance);
    expect(hammingDistance(a, c)).toBeGreaterThan(DEFAULT_ANTISPAM_CONFIG.duplicate.maxDistance + 4);
    expect(simhash('')).toBe('');
    expect(hammingDistance('', a)).toBe(64);
  });
});

describe('rules', () => {
  it('lets ordinary messages through, links and emoji included', () => {
    expect(judge('Here are the docs: https://docs.python.org/3/ 👍').action).toBe('none');
    expect(judge('Happy birthday @maria_k! 🎂🎉').action).toBe('none');
  });

  it('warns for spam-like content, mutes for strong spam, bans it from a new member', () => {
    expect(judge('Looking for partners, good passive income, write me for details')).toMatchObject({
      action: 'warn',
      reasons: ['SPAM_CONTENT'],
    });
    expect(judge('Work from home and earn $500 per day, write me').action).toBe('mute');
    expect(judge('Work from home and earn $500 per day, write me', { isNewMember: true }).action).toBe('ban');
  });

  it('turns the warning that reaches the limit into a mute', () => {
    const verdict = judge('Looking for partners, good passive income, write me for details', { warnings: 2 });
    expect(verdict).toMatchObject({ action: 'mute', reasons: ['SPAM_CONTENT', 'REPEATED_WARNINGS'] });
  });

  it('applies the new-member rules: links, mentions, forwards, buttons, emoji', () => {
    const fresh = { isNewMember: true };
    expect(judge('see https://example.org', fresh).reasons).toEqual(['NEW_MEMBER_LINK']);
    expect(judge('ask @someone_here', fresh).reasons).toEqual(['NEW_MEMBER_MENTION']);
    expect(judge('look', fresh, { forwarded: true }).reasons).toContain('NEW_MEMBER_FORWARD');
    expect(judge('tap', fresh, { hasButtons: true }).reasons).toContain('NEW_MEMBER_BUTTONS');
    expect(judge('hi 🎉🎉🎉🎉🎉🎉', fresh).reasons).toEqual(['NEW_MEMBER_EMOJI']);
    expect(judge('hi 🎉🎉🎉', fresh).action).toBe('none');
    // The same from an established member is fine.
    expect(judge('see https://example.org').action).toBe('none');
  });

  it('flags floods, repeats, cross-chat duplicates and waves', () => {
    expect(judge('hi', { userMessages: 6 })).toMatchObject({ action: 'mute', reasons: ['FLOOD_USER'] });
    expect(judge('hi', { chatMessages: 50 }).action).toBe('none');
    expect(judge('hi', { chatMessages: 50, isNewMember: true }).reasons).toEqual(['FLOOD_CHAT']);
    expect(judge('same text', { sameChatRepeats: 3 }).reasons).toEqual(['DUPLICATE_REPEAT']);
    expect(judge('same text', { userChats: 2 }).action).toBe('warn');
    expect(judge('same text', { userChats: 3 }).action).toBe('ban');
    expect(judge('same text', { waveChats: 3, waveUsers: 3 }).reasons).toEqual(['DUPLICATE_WAVE']);
  });

  it('deletes messages with the operator’s stop words, however they are spelled', () => {
    const config: AntispamConfig = { ...DEFAULT_ANTISPAM_CONFIG, stopWords: ['blue pills'] };
    expect(judge('get вlue рills today', {}, {}, config)).toMatchObject({ action: 'delete', reasons: ['STOP_WORD'] });
    expect(judge('the sky is blue', {}, {}, config).action).toBe('none');
  });

  it('only acts on floods in a private chat', () => {
    expect(judge('Work from home and earn $500 per day', {}, { chatType: 'private' }).action).toBe('none');
    expect(judge('hi', { userMessages: 9 }, { chatType: 'private' }).reasons).toEqual(['FLOOD_USER']);
  });
});

describe('reason texts', () => {
  it('has a short explanation for the admins for every reason code', () => {
    for (const code of [...REASON_CODES, 'ADMIN']) expect(Object.keys(en)).toContain(`antispam.reason.${code}`);
  });
});

describe('engine with the memory store', () => {
  it('finds the same text posted by one person in two chats', async () => {
    const antispam = createAntispam(DEFAULT_ANTISPAM_CONFIG, createMemoryAntispamStore(DEFAULT_ANTISPAM_CONFIG));
    const text = 'We are looking for people who want extra income, only 2 hours a day, details in private';
    expect((await antispam.check(msg(text, { chatId: -1 }))).reasons).not.toContain('DUPLICATE_CROSS_CHAT');
    const second = await antispam.check(msg(text.replace('only', 'just'), { chatId: -2, atMs: base.atMs + 60_000 }));
    expect(second.reasons).toContain('DUPLICATE_CROSS_CHAT');
  });
});

describe('settings', () => {
  it('parses ANTISPAM_FLOOD, ANTISPAM_RATE_LIMIT and ANTISPAM_STOP_WORDS', () => {
    expect(parseAntispamFlood('user=8/20')).toEqual({
      ok: true,
      value: { user: { count: 8, seconds: 20 }, chat: DEFAULT_ANTISPAM_CONFIG.flood.chat },
    });
    expect(parseAntispamFlood('user=8/20,user=9/20')).toMatchObject({ ok: false, reason: 'names user twice' });
    expect(parseAntispamFlood('people=8/20').ok).toBe(false);
    expect(parseAntispamFlood('user=0/20').ok).toBe(false);
    expect(parseAntispamRateLimit('3/1')).toEqual({ ok: true, value: { limit: 3, seconds: 1 } });
    expect(parseAntispamRateLimit('fast').ok).toBe(false);
    expect(parseStopWords(' casino , free bonus ,')).toEqual({ ok: true, value: ['casino', 'free bonus'] });
    expect(parseStopWords('a').ok).toBe(false);
  });

  it('reads the settings from the environment and names every bad key', () => {
    const config = parseConfig({
      ANTISPAM_DRY_RUN: 'true',
      ANTISPAM_STOP_WORDS: 'casino,free bonus',
      ANTISPAM_FLOOD: 'chat=30/10',
      ANTISPAM_JOIN_CHALLENGE_SECONDS: '90',
    });
    expect(config.antispam).toMatchObject({
      dryRun: true,
      stopWords: ['casino', 'free bonus'],
      flood: { user: DEFAULT_ANTISPAM_CONFIG.flood.user, chat: { count: 30, seconds: 10 } },
      joinChallengeSeconds: 90,
    });
    expect(parseConfig({}).antispam).toEqual(DEFAULT_ANTISPAM_CONFIG);
    let error: unknown;
    try {
      parseConfig({
        ANTISPAM_FLOOD: 'user=five',
        ANTISPAM_JOIN_CHALLENGE_SECONDS: '99999',
        ANTISPAM_DRY_RUN: 'yes',
        ANTISPAM_RATE_LIMIT: '0/0',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/ANTISPAM_FLOOD: must look like user=5\/10,chat=20\/10/);
    expect(problems).toMatch(/ANTISPAM_JOIN_CHALLENGE_SECONDS: must be an integer from 0 \(no challenge\) to 3600/);
    expect(problems).toMatch(/ANTISPAM_DRY_RUN: must be one of true, false/);
    expect(problems).toMatch(/ANTISPAM_RATE_LIMIT: must look like 20\/10/);
  });
});
