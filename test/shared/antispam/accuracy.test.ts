/**
 * Accuracy of the anti-spam rules on the labelled sample set (test/fixtures/antispam): precision and recall
 * of "the engine acts" against "a moderator would remove it", for single messages and for timed sequences
 * (floods, raids, duplicates across chats, busy ordinary conversations). The figures are printed; the floors
 * sit below what was measured so a rule change that makes things worse fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createAntispam,
  createMemoryAntispamStore,
  DEFAULT_ANTISPAM_CONFIG,
  type SpamMessage,
} from '#shared/antispam/index.ts';
import { PROJECT_ROOT } from '#shared/config/index.ts';

interface Labelled {
  label: 'spam' | 'ham';
  text: string;
  category?: string;
  newMember?: boolean;
  forwarded?: boolean;
  hasButtons?: boolean;
}
interface SequenceEvent {
  atMs: number;
  chatId: number;
  userId: number;
  text?: string;
  label?: 'spam' | 'ham';
  join?: boolean;
}

const dir = join(PROJECT_ROOT, 'test', 'fixtures', 'antispam');
const load = (file: string) => (JSON.parse(readFileSync(join(dir, file), 'utf8')) as { messages: Labelled[] }).messages;
const messages = load('messages.json');
/** Written after the rules were last changed, never used to change them. */
const holdout = load('holdout.json');
const sequences = (
  JSON.parse(readFileSync(join(dir, 'sequences.json'), 'utf8')) as {
    sequences: { name: string; events: SequenceEvent[] }[];
  }
).sequences;

class Tally {
  tp = 0;
  fp = 0;
  fn = 0;
  tn = 0;
  readonly misses: string[] = [];
  readonly falseAlarms: string[] = [];
  add(label: 'spam' | 'ham', flagged: boolean, what: string) {
    if (label === 'spam' && flagged) this.tp += 1;
    else if (label === 'spam') {
      this.fn += 1;
      this.misses.push(what);
    } else if (flagged) {
      this.fp += 1;
      this.falseAlarms.push(what);
    } else this.tn += 1;
  }
  get precision() {
    return this.tp + this.fp === 0 ? 1 : this.tp / (this.tp + this.fp);
  }
  get recall() {
    return this.tp + this.fn === 0 ? 1 : this.tp / (this.tp + this.fn);
  }
  merge(other: Tally) {
    const sum = new Tally();
    for (const key of ['tp', 'fp', 'fn', 'tn'] as const) sum[key] = this[key] + other[key];
    return sum;
  }
  line(name: string) {
    return `${name}: precision ${this.precision.toFixed(3)}, recall ${this.recall.toFixed(3)} (tp ${this.tp}, fp ${this.fp}, fn ${this.fn}, tn ${this.tn})`;
  }
}

/** Each single message in a fresh chat of its own, from its own sender (no rate or duplicate history). */
async function measureMessages(samples: readonly Labelled[]): Promise<Tally> {
  const tally = new Tally();
  const store = createMemoryAntispamStore(DEFAULT_ANTISPAM_CONFIG);
  const antispam = createAntispam(DEFAULT_ANTISPAM_CONFIG, store);
  let index = 0;
  for (const sample of samples) {
    index += 1;
    const chatId = -500_000 - index;
    const userId = 700_000 + index;
    // Far apart in time: single messages must not add up to floods or duplicates of each other.
    const atMs = index * 24 * 3600 * 1000;
    if (sample.newMember) await store.recordJoin(chatId, userId, atMs - 60_000);
    const message: SpamMessage = {
      chatId,
      userId,
      chatType: 'supergroup',
      atMs,
      text: sample.text,
      forwarded: sample.forwarded,
      hasButtons: sample.hasButtons,
    };
    const verdict = await antispam.check(message);
    tally.add(sample.label, verdict.action !== 'none', `${sample.category ?? sample.label}: ${sample.text}`);
  }
  return tally;
}

/** Every sequence through one store, in time order (so cross-chat duplicates and floods build up). */
async function measureSequences(): Promise<{ total: Tally; bySequence: Map<string, Tally> }> {
  const total = new Tally();
  const bySequence = new Map<string, Tally>();
  const store = createMemoryAntispamStore(DEFAULT_ANTISPAM_CONFIG);
  const antispam = createAntispam(DEFAULT_ANTISPAM_CONFIG, store);
  let offset = 0;
  for (const sequence of sequences) {
    const tally = new Tally();
    // A day apart: sequences do not see each other.
    offset += 24 * 3600 * 1000;
    for (const event of sequence.events) {
      const atMs = offset + event.atMs;
      if (event.join) {
        await store.recordJoin(event.chatId, event.userId, atMs);
        continue;
      }
      const verdict = await antispam.check({
        chatId: event.chatId,
        userId: event.userId,
        chatType: 'supergroup',
        atMs,
        text: event.text ?? '',
      });
      const flagged = verdict.action !== 'none';
      tally.add(event.label ?? 'ham', flagged, `${sequence.name}: ${event.text}`);
    }
    bySequence.set(sequence.name, tally);
  }
  for (const tally of bySequence.values()) {
    for (const key of ['tp', 'fp', 'fn', 'tn'] as const) total[key] += tally[key];
    total.misses.push(...tally.misses);
    total.falseAlarms.push(...tally.falseAlarms);
  }
  return { total, bySequence };
}

describe('anti-spam accuracy on the labelled sample set', () => {
  it('has a sample set of the promised size', () => {
    expect(messages.filter((m) => m.label === 'ham').length).toBeGreaterThanOrEqual(150);
    expect(messages.filter((m) => m.label === 'spam').length).toBeGreaterThanOrEqual(100);
    expect(sequences.length).toBeGreaterThanOrEqual(8);
  });

  it('measures precision and recall, above the floors', async () => {
    const single = await measureMessages(messages);
    const unseen = await measureMessages(holdout);
    const { total: timed, bySequence } = await measureSequences();
    const all = single.merge(timed);
    const report = [
      single.line('single messages'),
      timed.line('sequences'),
      ...[...bySequence].map(([name, tally]) => `  ${tally.line(name)}`),
      all.line('overall'),
      unseen.line('hold-out single messages'),
      `missed hold-out spam: ${unseen.misses.join(' | ')}`,
      `false alarms on hold-out ham: ${unseen.falseAlarms.join(' | ')}`,
      `missed single spam (${single.misses.length}):`,
      ...single.misses.map((text) => `  - ${text}`),
      `false alarms on single ham (${single.falseAlarms.length}):`,
      ...single.falseAlarms.map((text) => `  - ${text}`),
      `false alarms in sequences (${timed.falseAlarms.length}):`,
      ...timed.falseAlarms.slice(0, 10).map((text) => `  - ${text}`),
    ].join('\n');
    console.log(report);
    // Floors below the measured figures (see the printed report; measured: single 1.000/0.933, sequences
    // 0.978/0.740, overall 0.990/0.829, hold-out 1.000/0.680).
    expect(single.precision).toBeGreaterThanOrEqual(0.95);
    expect(single.recall).toBeGreaterThanOrEqual(0.85);
    expect(timed.precision).toBeGreaterThanOrEqual(0.9);
    expect(timed.recall).toBeGreaterThanOrEqual(0.65);
    expect(all.precision).toBeGreaterThanOrEqual(0.95);
    expect(all.recall).toBeGreaterThanOrEqual(0.75);
    expect(unseen.precision).toBeGreaterThanOrEqual(0.9);
    expect(unseen.recall).toBeGreaterThanOrEqual(0.55);
    // Ordinary conversations stay almost untouched: at most 2 false alarms in 300+ ham sequence messages.
    expect(timed.fp).toBeLessThanOrEqual(2);
  });
});
