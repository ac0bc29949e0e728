/**
 * The rules: a pure function from a message's features and what the store has seen (rates, duplicates,
 * membership age, warnings) to a verdict. Each rule adds a reason code and the strongest action wins.
 */
import type { AntispamConfig } from './config.ts';
import type { MessageFeatures, SpamMessage } from './features.ts';

export const ACTIONS = ['none', 'delete', 'warn', 'mute', 'ban'] as const;
export type AntispamAction = (typeof ACTIONS)[number];

export const REASON_CODES = [
  'FLOOD_USER',
  'FLOOD_CHAT',
  'DUPLICATE_REPEAT',
  'DUPLICATE_CROSS_CHAT',
  'DUPLICATE_WAVE',
  'NEW_MEMBER_LINK',
  'NEW_MEMBER_MENTION',
  'NEW_MEMBER_FORWARD',
  'NEW_MEMBER_BUTTONS',
  'NEW_MEMBER_EMOJI',
  'STOP_WORD',
  'SPAM_CONTENT',
  'REPEATED_WARNINGS',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export interface Verdict {
  action: AntispamAction;
  reasons: ReasonCode[];
  /** The content score and its signals, for the admins' alert and tuning. */
  score: number;
  signals: readonly string[];
}

/** What the store knows about the sender and the text when the message arrives (this message included). */
export interface Observation {
  /** The sender's messages in this chat in the current flood window. */
  userMessages: number;
  /** All messages in this chat in the current flood window. */
  chatMessages: number;
  /** Near-identical texts by this sender in this chat within the duplicate window (this one included). */
  sameChatRepeats: number;
  /** Distinct chats this sender posted a near-identical text in (this one included). */
  userChats: number;
  /** Distinct chats anyone posted a near-identical text in, and by how many distinct people. */
  waveChats: number;
  waveUsers: number;
  /** Joined recently and still within the first messages. */
  isNewMember: boolean;
  /** Warnings the sender collected in this chat (before this message). */
  warnings: number;
}

export const EMPTY_OBSERVATION: Observation = {
  userMessages: 1,
  chatMessages: 1,
  sameChatRepeats: 1,
  userChats: 1,
  waveChats: 1,
  waveUsers: 1,
  isNewMember: false,
  warnings: 0,
};

const rank = (action: AntispamAction) => ACTIONS.indexOf(action);

/** The stronger of two actions. */
export function strongest(a: AntispamAction, b: AntispamAction): AntispamAction {
  return rank(a) >= rank(b) ? a : b;
}

/** Judges one message. Pure: same inputs, same verdict. */
export function evaluate(
  message: SpamMessage,
  features: MessageFeatures,
  seen: Observation,
  config: AntispamConfig,
): Verdict {
  const reasons: ReasonCode[] = [];
  let action = 'none' as AntispamAction;
  const hit = (reason: ReasonCode, wanted: AntispamAction) => {
    if (!reasons.includes(reason)) reasons.push(reason);
    action = strongest(action, wanted);
  };
  const isGroup = message.chatType === 'group' || message.chatType === 'supergroup';

  // Rates: a person typing faster than people type; a raid filling the chat (only new members are held back).
  if (seen.userMessages > config.flood.user.count) hit('FLOOD_USER', 'mute');
  if (seen.chatMessages > config.flood.chat.count && seen.isNewMember) hit('FLOOD_CHAT', 'delete');

  if (isGroup) {
    // Duplicates (only texts long enough to be worth comparing get a fingerprint compared).
    if (seen.sameChatRepeats >= config.duplicate.repeats) hit('DUPLICATE_REPEAT', 'delete');
    if (seen.userChats >= config.duplicate.crossChats) {
      hit('DUPLICATE_CROSS_CHAT', seen.userChats > config.duplicate.crossChats || seen.isNewMember ? 'ban' : 'warn');
    }
    if (seen.waveChats >= config.duplicate.waveChats && seen.waveUsers >= 2) {
      hit('DUPLICATE_WAVE', seen.isNewMember ? 'ban' : 'delete');
    }

    // A new member's first messages: no links, mentions, forwards or buttons; few emoji.
    if (seen.isNewMember) {
      if (features.links > 0) hit('NEW_MEMBER_LINK', 'delete');
      if (features.mentions > 0) hit('NEW_MEMBER_MENTION', 'delete');
      if (features.forwarded) hit('NEW_MEMBER_FORWARD', 'delete');
      if (features.hasButtons) hit('NEW_MEMBER_BUTTONS', 'delete');
      if (features.emoji > config.newMember.maxEmoji) hit('NEW_MEMBER_EMOJI', 'delete');
    }
  }

  if (features.stopWordHits.length > 0) hit('STOP_WORD', 'delete');

  // Content: signals that agree (a lexicon phrase and a link, obfuscation and money…).
  if (features.score >= config.scoreThresholds.severe) hit('SPAM_CONTENT', seen.isNewMember ? 'ban' : 'mute');
  else if (features.score >= config.scoreThresholds.spam) hit('SPAM_CONTENT', 'warn');

  // A warning that would be one too many becomes a mute.
  if (action === 'warn' && seen.warnings + 1 >= config.warnLimit) hit('REPEATED_WARNINGS', 'mute');

  // In a private chat with the bot there is nothing to delete for others: only floods matter there.
  if (!isGroup && action !== 'none') {
    const privateReasons = reasons.filter((reason) => reason === 'FLOOD_USER');
    return { action: privateReasons.length > 0 ? 'delete' : 'none', reasons: privateReasons, ...scored(features) };
  }
  return { action, reasons, ...scored(features) };
}

function scored(features: MessageFeatures) {
  return { score: features.score, signals: features.signals };
}
