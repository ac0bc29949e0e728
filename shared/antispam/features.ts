/**
 * What the rules look at in one message, extracted once: links, mentions, emoji, buttons, forwards, signs of
 * obfuscation and the content score. Works on a plain message shape (no grammY types), so fixtures and the
 * bot feed it the same way.
 */
import { SPAM_LEXICON } from './lexicon.ts';
import { countInvisible, countMixedScriptWords, normaliseText, skeleton } from './normalize.ts';
import { simhash } from './simhash.ts';

/** The parts of a Telegram message the rules read. */
export interface SpamMessage {
  chatId: number;
  userId: number;
  chatType: 'private' | 'group' | 'supergroup' | 'channel';
  /** Unix milliseconds. */
  atMs: number;
  /** Text or caption ('' for none). */
  text: string;
  /** Telegram entities of the text or caption (only type and url matter). */
  entities?: readonly { type: string; url?: string | undefined }[] | undefined;
  /** Forwarded from someone else or a channel. */
  forwarded?: boolean | undefined;
  /** Carries an inline keyboard (sent via an inline bot). */
  hasButtons?: boolean | undefined;
  /** Attached media (photo, video, document, sticker…). */
  hasMedia?: boolean | undefined;
}

export interface MessageFeatures {
  skeleton: string;
  /** SimHash of the skeleton, '' for an empty text. */
  fingerprint: string;
  links: number;
  /** t.me/+…, joinchat, chat.whatsapp.com, discord.gg: invitations to elsewhere. */
  inviteLinks: number;
  shortLinks: number;
  /** Links to domains under cheap, spam-heavy top-level domains. */
  riskyLinks: number;
  mentions: number;
  emoji: number;
  invisible: number;
  mixedScriptWords: number;
  /** Letters in styled Unicode alphabets (𝐁𝐨𝐥𝐝, Ⓒⓘⓡⓒⓛⓔⓓ, ｆｕｌｌ-width) that NFKC turned into plain ones. */
  styledLetters: number;
  lexiconHits: readonly string[];
  stopWordHits: readonly string[];
  money: boolean;
  capsRatio: number;
  letters: number;
  forwarded: boolean;
  hasButtons: boolean;
  /** The content score: the sum of the signal weights below. */
  score: number;
  /** The signals that contributed to the score. */
  signals: readonly string[];
}

const URL_PATTERN =
  /\b(?:https?:\/\/[^\s<>"]+|www\.[^\s<>"]+|t\.me\/[^\s<>"]+|[a-z0-9][a-z0-9-]{0,62}\.(?:com|net|org|io|ru|xyz|top|info|biz|me|link|site|online|club|app|ly|gg|cc|co|to|shop|live|pro|vip|bet|win|click|icu|su|store|finance|exchange|money|cash)\b(?:\/[^\s<>"]*)?)/gi;
const INVITE_PATTERN = /(?:t\.me\/(?:\+|joinchat\/)|telegram\.me\/joinchat|chat\.whatsapp\.com|discord\.gg\/)/i;
const SHORTENER_PATTERN =
  /\b(?:bit\.ly|tinyurl\.com|cutt\.ly|t\.ly|goo\.gl|is\.gd|rb\.gy|shorturl\.at|tiny\.cc|ow\.ly)\//i;
/** Cheap top-level domains that dominate throwaway spam sites (a link to one is a weak signal, not proof). */
const RISKY_TLD_PATTERN =
  /^(?:https?:\/\/)?(?:www\.)?[^/\s]+\.(?:xyz|top|site|online|click|live|win|bet|vip|shop|store|info|money|finance|cash|icu|club|su|biz|pro|loan|work)(?:[/:?#]|$)/i;
/** Words of earning: together with an amount of money they make an income promise. */
const EARNING_PATTERN =
  /\b(?:earn\w*|income|profit\w*|pay(?:s|ment)?|salary|returns?|withdr[ae]w\w*)\b|заработ|доход|выплат/iu;
/** Emoji used almost only by adult bait. */
const ADULT_EMOJI_PATTERN = /[\u{1F51E}\u{1F48B}\u{1F4A6}\u{1F351}\u{1F346}]/u;
const MENTION_PATTERN = /(?:^|[^\w@])@[a-z][a-z0-9_]{3,31}\b/gi;
const EMOJI_PATTERN = /\p{Extended_Pictographic}/gu;
/** Amounts of money or crypto: $500, 500$, 1000 usdt, 2 btc, 300€, "x10", 50% daily. */
const MONEY_PATTERN =
  /(?:[$€£₽]\s?\d|\d[\d.,]*\s?(?:[$€£₽]|usdt|usd|btc|eth|ton|bnb|sol|руб|рублей|k\s?\$)|\bx\d{1,3}\b|\d{2,3}\s?%\s?(?:daily|a day|per day|weekly|profit|roi|в день))/iu;

/** The weight of each content signal (how much it says "spam" on its own). */
export const SIGNAL_WEIGHTS = {
  LEXICON: 2,
  LINK: 1,
  INVITE_LINK: 2,
  SHORT_LINK: 1,
  MENTION: 1,
  OBFUSCATED_TEXT: 3,
  INVISIBLE_CHARS: 2,
  STYLED_TEXT: 2,
  MONEY: 1,
  INCOME_PROMISE: 1,
  RISKY_LINK: 1,
  ADULT_EMOJI: 1,
  MANY_EMOJI: 1,
  SHOUTING: 1,
  BUTTONS: 2,
  FORWARDED: 1,
} as const;
/** Distinct lexicon phrases counted (more is not more evidence). */
const MAX_LEXICON_HITS = 3;
const MANY_EMOJI = 8;

function phraseHits(skel: string, phrases: readonly string[]): string[] {
  const padded = ` ${skel} `;
  const hits: string[] = [];
  for (const phrase of phrases) {
    const folded = skeleton(phrase);
    // Word-start match: "airdrop" also finds "airdrops".
    if (folded !== '' && padded.includes(` ${folded}`)) hits.push(phrase);
  }
  return hits;
}

function countStyled(text: string): number {
  let styled = 0;
  for (const char of text) {
    if (/[\p{L}\p{N}]/u.test(char) && char.normalize('NFKC') !== char && (char.codePointAt(0) ?? 0) > 0x2000)
      styled += 1;
  }
  return styled;
}

/** Extracts the features of a message; `stopWords` are the operator's (already parsed) words. */
export function extractFeatures(message: SpamMessage, stopWords: readonly string[] = []): MessageFeatures {
  const text = message.text ?? '';
  const plain = normaliseText(text);
  const skel = skeleton(text);
  const entities = message.entities ?? [];
  const urls = new Set((plain.match(URL_PATTERN) ?? []).map((url) => url.toLowerCase()));
  for (const entity of entities) if (entity.type === 'text_link' && entity.url) urls.add(entity.url.toLowerCase());
  const links = Math.max(urls.size, entities.filter((entity) => entity.type === 'url').length);
  const linkTexts = [...urls];
  const inviteLinks = linkTexts.filter((url) => INVITE_PATTERN.test(url)).length;
  const shortLinks = linkTexts.filter((url) => SHORTENER_PATTERN.test(`${url}/`)).length;
  const riskyLinks = linkTexts.filter((url) => RISKY_TLD_PATTERN.test(url)).length;
  const mentionEntities = entities.filter((entity) => entity.type === 'mention' || entity.type === 'text_mention');
  const mentions = Math.max(mentionEntities.length, plain.match(MENTION_PATTERN)?.length ?? 0);
  const emoji = text.match(EMOJI_PATTERN)?.length ?? 0;
  const invisible = countInvisible(text);
  const mixedScriptWords = countMixedScriptWords(text);
  const styledLetters = countStyled(text);
  const lexiconHits = phraseHits(skel, SPAM_LEXICON);
  const stopWordHits = phraseHits(skel, stopWords);
  const money = MONEY_PATTERN.test(plain);
  const letters = text.match(/\p{L}/gu) ?? [];
  const upper = letters.filter((char) => char !== char.toLowerCase()).length;
  const capsRatio = letters.length === 0 ? 0 : upper / letters.length;

  const signals: string[] = [];
  let score = 0;
  const add = (signal: keyof typeof SIGNAL_WEIGHTS, times = 1) => {
    signals.push(signal);
    score += SIGNAL_WEIGHTS[signal] * times;
  };
  if (lexiconHits.length > 0) add('LEXICON', Math.min(lexiconHits.length, MAX_LEXICON_HITS));
  if (links > 0) add('LINK');
  if (inviteLinks > 0) add('INVITE_LINK');
  if (shortLinks > 0) add('SHORT_LINK');
  if (mentions > 0) add('MENTION');
  if (mixedScriptWords > 0) add('OBFUSCATED_TEXT');
  if (invisible >= 2) add('INVISIBLE_CHARS');
  if (styledLetters >= 4) add('STYLED_TEXT');
  if (riskyLinks > 0) add('RISKY_LINK');
  if (money) add('MONEY');
  if (money && EARNING_PATTERN.test(plain)) add('INCOME_PROMISE');
  if (ADULT_EMOJI_PATTERN.test(text)) add('ADULT_EMOJI');
  if (emoji >= MANY_EMOJI) add('MANY_EMOJI');
  if (letters.length >= 20 && capsRatio >= 0.6 && styledLetters < 4) add('SHOUTING');
  if (message.hasButtons) add('BUTTONS');
  if (message.forwarded) add('FORWARDED');

  return {
    skeleton: skel,
    // Links differ between copies of the same spam (tracking codes): they count as one word "link".
    fingerprint: simhash(skeleton(plain.replace(URL_PATTERN, ' link '))),
    links,
    inviteLinks,
    shortLinks,
    riskyLinks,
    mentions,
    emoji,
    invisible,
    mixedScriptWords,
    styledLetters,
    lexiconHits,
    stopWordHits,
    money,
    capsRatio,
    letters: letters.length,
    forwarded: message.forwarded === true,
    hasButtons: message.hasButtons === true,
    score,
    signals,
  };
}
