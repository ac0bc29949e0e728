/**
 * Text normalisation for spam matching. Spammers dodge word lists with look-alike letters (Cyrillic "а" in a
 * Latin word), invisible characters, full-width or styled letters (𝐅𝐑𝐄𝐄), separators (f.r.e.e) and digits
 * for letters (fr33). `skeleton` folds all of these into one plain lower-case Latin form used only for
 * matching; the message itself is never changed or stored.
 */

/** Zero-width and other invisible format characters (ZWSP, ZWNJ, ZWJ, LRM/RLM, word joiner, BOM, soft hyphen…). */
const INVISIBLE =
  /[\u00AD\u061C\u115F\u1160\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0]|\p{Variation_Selector}|\u034F|\u17B4|\u17B5/gu;
/** Combining marks (after NFKD): "fréé" and "f̶r̶e̶e̶" both read as "free". */
const COMBINING = /[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F]/g;

/** Cyrillic and Greek letters that look like Latin ones (lower case; input is lower-cased first). */
const HOMOGLYPHS: Record<string, string> = {
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  ѕ: 's',
  і: 'i',
  ї: 'i',
  ј: 'j',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  һ: 'h',
  ӏ: 'l',
  ɡ: 'g',
  ı: 'i',
  α: 'a',
  β: 'b',
  ε: 'e',
  η: 'n',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  ω: 'w',
  ϲ: 'c',
  ϳ: 'j',
  ζ: 'z',
};
/** Capital Cyrillic and Greek look-alikes, folded before lower-casing (capital Ν is N, small ν is v). */
const UPPER_HOMOGLYPHS: Record<string, string> = {
  А: 'a',
  В: 'b',
  Е: 'e',
  К: 'k',
  М: 'm',
  Н: 'h',
  О: 'o',
  Р: 'p',
  С: 'c',
  Т: 't',
  Х: 'x',
  У: 'y',
  Ѕ: 's',
  І: 'i',
  Ј: 'j',
  Α: 'a',
  Β: 'b',
  Ε: 'e',
  Ζ: 'z',
  Η: 'h',
  Ι: 'i',
  Κ: 'k',
  Μ: 'm',
  Ν: 'n',
  Ο: 'o',
  Ρ: 'p',
  Τ: 't',
  Υ: 'y',
  Χ: 'x',
};
const UPPER_HOMOGLYPH_PATTERN = new RegExp(`[${Object.keys(UPPER_HOMOGLYPHS).join('')}]`, 'g');

/** Digits and symbols used as letters. Applied only inside words that also contain letters ("fr33", "$ex"). */
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };

const LATIN = /[a-z]/;
const CYRILLIC = /[\u0400-\u04FF]/;

/** NFKC (full-width and styled letters to plain ones), invisible characters removed, lower case. */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').replace(INVISIBLE, '').toLowerCase();
}

/** Counts invisible format characters (a message full of them is hiding something). */
export function countInvisible(text: string): number {
  return text.match(INVISIBLE)?.length ?? 0;
}

/**
 * Words that mix Latin with Cyrillic letters ("frее" with Cyrillic е): normal writing never does this, so it
 * is a strong sign of a word list being dodged.
 */
export function countMixedScriptWords(text: string): number {
  let mixed = 0;
  for (const word of normaliseText(text).split(/[^\p{L}\p{N}]+/u)) {
    if (word.length < 2) continue;
    if (LATIN.test(word) && CYRILLIC.test(word)) mixed += 1;
  }
  return mixed;
}

function foldWord(word: string): string {
  let out = '';
  const hasLetter = /\p{L}/u.test(word);
  for (const char of word) {
    const glyph = HOMOGLYPHS[char];
    if (glyph !== undefined) out += glyph;
    else if (hasLetter && LEET[char] !== undefined) out += LEET[char];
    else out += char;
  }
  // Stretched letters ("freeeee", "moooney") count once or twice, like the dictionary spelling.
  return out.replace(/(.)\1{2,}/g, '$1$1');
}

/**
 * The matching form of a text: normalised, accents and marks dropped, look-alike letters folded to Latin,
 * leetspeak undone, letter-separator tricks ("f.r.e.e", "f r e e") joined, punctuation to single spaces.
 * @example skeleton('𝐅𝐑𝐄𝐄 с r y р t о!!') // 'free crypto'
 */
export function skeleton(text: string): string {
  const folded = text.normalize('NFKC').replace(UPPER_HOMOGLYPH_PATTERN, (char) => UPPER_HOMOGLYPHS[char] ?? char);
  const base = normaliseText(folded).normalize('NFKD').replace(COMBINING, '').normalize('NFC');
  const tokens: string[] = [];
  for (const chunk of base.split(/\s+/)) {
    // Letters joined by dots, dashes or stars ("f.r.e.e", "m-o-n-e-y") are one word.
    if (/^(?:\p{L}[.\-_*·•|/]){2,}\p{L}[.!?,]*$/u.test(chunk)) {
      tokens.push(chunk.replace(/[^\p{L}]/gu, ''));
      continue;
    }
    // Keep $ and @ (leet letters) and digits; everything else that is not a letter separates words.
    tokens.push(
      ...chunk
        .replace(/[^\p{L}\p{N}$@]+/gu, ' ')
        .split(' ')
        .filter(Boolean),
    );
  }
  // Runs of 3+ single letters are one spaced-out word ("f r e e" → "free").
  const joined: string[] = [];
  let run = '';
  let runLength = 0;
  const flush = () => {
    if (runLength >= 3) joined.push(run);
    else if (run) joined.push(...run.split(''));
    run = '';
    runLength = 0;
  };
  for (const token of tokens) {
    if ([...token].length === 1 && /\p{L}/u.test(token)) {
      run += token;
      runLength += 1;
    } else {
      flush();
      joined.push(token);
    }
  }
  flush();
  return joined.map(foldWord).join(' ');
}

/** Words of a skeleton (for shingles). */
export function words(skel: string): string[] {
  return skel.split(' ').filter(Boolean);
}
