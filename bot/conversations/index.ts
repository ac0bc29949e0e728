/**
 * Conversations (grammY conversations v2) for every feature, stored in Redis per USER (not per chat), under
 * `<redis prefix>:conv:`. `create-bot.ts` installs the plugin once (`installConversations`); a feature then
 * registers each of its conversations with one line and enters it from a handler:
 *
 *   composer.use(defineConversation(myFlow, 'privacy-consent'));          // in the feature's composer, BEFORE
 *                                                                          // the handlers that enter it
 *   feature.command('consent', (ctx) => ctx.conversation.enter('privacy-consent'));
 *
 *   async function myFlow(conversation: BotConversation, ctx: ConversationContext) {
 *     const step = await waitStep(conversation);              // handles /cancel, the Cancel button, timeout
 *     if (step.kind !== 'update') return;                       // (tell the user: see bot/features/mfa.ts)
 *     ...
 *   }
 *
 * Conversations v2 store every update they replay. A conversation that receives secrets (codes) is declared
 * with `{ sensitive: true }`: before its state is written, every `text` and `caption` in it (the user's
 * messages, and bot messages that came back in callback queries) is replaced, so Redis never holds a code.
 * Such a conversation must take what it needs from a message inside the same step (verify in
 * `conversation.external`, which stores only the returned verdict) and never read the text after a later wait.
 */
import { type Conversation, conversations, createConversation } from '@grammyjs/conversations';
import type { Context as BaseContext, Bot, Middleware, Transformer } from 'grammy';
import { InlineKeyboard } from 'grammy';
import type { Redis } from 'ioredis';
import type { Context, ContextFlavor } from '../context.ts';
import { pickLocale, translator } from '../i18n/index.ts';
import { type ConversationStateStore, createConversationStateStore } from './state-store.ts';

/** The context inside a conversation (no `ctx.conversation` there). */
export type ConversationContext = BaseContext & ContextFlavor;
export type BotConversation = Conversation<Context, ConversationContext>;

/** A wait gives up after 10 minutes (the conversation ends and says so). */
export const CONVERSATION_WAIT_MS = 10 * 60 * 1000;
/** Stored conversation state expires this long after its last write (a left-over never lingers). */
const STATE_TTL_SECONDS = 24 * 3600;
/** Bump when a conversation's steps change incompatibly: old states are then dropped, not replayed. */
const STATE_VERSION = 1;
const REDACTED = '[redacted]';

/** Conversation ids whose stored state is redacted (see the module comment). */
const sensitiveIds = new Set<string>();

export interface ConversationStoreDeps {
  redis: Redis;
  /** The deployment's Redis prefix; state goes under `${redisPrefix}:conv:`. */
  redisPrefix: string;
  /** Where state is read and written (./state-store.ts); default: Redis directly, nothing cached. */
  stateStore?: ConversationStateStore;
  /** Outgoing-call transformers for the conversation's own Api (bot.api's are not applied there). */
  transformers?: Transformer[];
}

/** The Redis key prefix of stored conversation state. */
export function conversationKeyPrefix(redisPrefix: string): string {
  return `${redisPrefix}:conv:`;
}

/** Replaces every `text`/`caption` string (commands excepted) in a JSON-like value. */
function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      (key === 'text' || key === 'caption') && typeof item === 'string' && !item.startsWith('/')
        ? REDACTED
        : redact(item);
  }
  return out;
}

function redactState(state: unknown): unknown {
  if (state === null || typeof state !== 'object') return state;
  const data = state as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(data).map(([id, value]) => [id, sensitiveIds.has(id) ? redact(value) : value]),
  );
}

/** Installs the conversations plugin on `bot` (once, before the features). */
export function installConversations(bot: Bot<Context>, deps: ConversationStoreDeps): void {
  const store = deps.stateStore ?? createConversationStateStore({ redis: deps.redis, redisPrefix: deps.redisPrefix });
  bot.use(
    conversations<Context, ConversationContext>({
      storage: {
        type: 'key',
        version: STATE_VERSION,
        prefix: conversationKeyPrefix(deps.redisPrefix),
        // Per person: a conversation follows its user, and one user's state never mixes with another's in a group.
        getStorageKey: (ctx) => (ctx.from?.id === undefined ? undefined : String(ctx.from.id)),
        adapter: {
          async read(key) {
            const raw = await store.read(key);
            return raw ? JSON.parse(raw) : undefined;
          },
          async write(key, value) {
            const safe = { ...value, state: redactState(value.state) };
            await store.write(key, JSON.stringify(safe), STATE_TTL_SECONDS);
          },
          async delete(key) {
            await store.delete(key);
          },
        },
      },
      // Every conversation speaks the user's language.
      plugins: [
        async (ctx, next) => {
          if (deps.transformers) ctx.api.config.use(...deps.transformers);
          ctx.locale = pickLocale(ctx.from?.language_code);
          ctx.t = translator(ctx.locale);
          await next();
        },
      ],
    }),
  );
}

/**
 * Registers a conversation (use the returned middleware in the feature's composer).
 * `sensitive`: its stored state is redacted (it receives codes or other secrets).
 */
export function defineConversation(
  builder: (conversation: BotConversation, ctx: ConversationContext, ...args: never[]) => Promise<unknown>,
  id: string,
  options: { sensitive?: boolean } = {},
): Middleware<Context> {
  if (options.sensitive) sensitiveIds.add(id);
  return createConversation<Context, ConversationContext>(
    builder as (conversation: BotConversation, ctx: ConversationContext) => Promise<unknown>,
    id,
  ) as unknown as Middleware<Context>;
}

/** Callback data of the Cancel button every conversation offers. */
export const CANCEL_DATA = 'conv:cancel';

/** A keyboard with the Cancel button. */
export function cancelKeyboard(ctx: ConversationContext): InlineKeyboard {
  return new InlineKeyboard().text(ctx.t('conversation.cancel_button'), CANCEL_DATA);
}

export type WaitOutcome =
  | { kind: 'update'; ctx: ConversationContext }
  | { kind: 'cancelled' }
  | { kind: 'timeout'; ctx: ConversationContext };

/**
 * Waits for the next update, treating /cancel and the Cancel button as "stop" and a reply later than
 * `timeoutMs` as a timeout. The caller says what to do in each case.
 */
export async function waitStep(
  conversation: BotConversation,
  options: { timeoutMs?: number } = {},
): Promise<WaitOutcome> {
  const limit = options.timeoutMs ?? CONVERSATION_WAIT_MS;
  const before = await conversation.now();
  const ctx = await conversation.wait();
  const after = await conversation.now();
  if (ctx.callbackQuery?.data === CANCEL_DATA) {
    await ctx.answerCallbackQuery();
    return { kind: 'cancelled' };
  }
  if (ctx.message?.text?.trim().split(/\s|@/)[0] === '/cancel') return { kind: 'cancelled' };
  if (after - before > limit) return { kind: 'timeout', ctx };
  return { kind: 'update', ctx };
}
