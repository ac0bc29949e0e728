/**
 * Callback data is untrusted input: any client can send any bytes as the data of a button tap. This module
 * declares every kind of button once (a prefix, typed arguments with validators, and whether it is destructive),
 * builds the data string (at most 64 bytes, as Telegram allows) and parses a tap strictly: a wrong prefix, a
 * missing or extra part, a character outside the safe set or an oversized string is rejected with a polite
 * "This button is no longer active." and one security event per person and minute — never an exception.
 *
 * Binding to the person: a button in a private chat can only be tapped by that person. A button that may sit
 * in a group carries who may press it, either as an owner tag (`bound`) or through its nonce. A destructive
 * button carries a single-use nonce: a short random token stored server-side with the person and the exact
 * action it was issued for, consumed atomically before acting, so a replayed, forwarded or double tap does
 * nothing. A tap by someone else does not burn the owner's nonce.
 *
 * Layout: `<prefix>[:<arg>…][:~<owner>][:<nonce>]`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Composer, Filter, MiddlewareFn } from 'grammy';
import type { Redis } from 'ioredis';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import type { Logger } from '#shared/logger.ts';
import type { Context } from './context.ts';

// ---------------------------------------------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------------------------------------------

/** Where nonces live: Redis, under `${redisPrefix}:cbn:<nonce>`. */
export type NonceStore = { redis: Redis; redisPrefix: string };

/** How long a destructive button stays usable by default. */
export const NONCE_TTL_SECONDS = 600;
/** 9 random bytes: 12 base64url characters (72 bits). */
const NONCE_BYTES = 9;
/** What a nonce in callback data may look like (ours are 12 characters; 8–24 are parsed, then looked up). */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{8,24}$/;

/** Result of a consume attempt, for the reason code of a refusal. */
export type NonceVerdict = 'ok' | 'unknown' | 'wrong_user' | 'wrong_action';

/**
 * Deletes the nonce only when it is bound to this person and action (atomic): returns 1 when consumed, 0 when
 * unknown (never issued, expired or used), or the stored binding when it belongs to someone or something else.
 */
const CONSUME_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if v == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return v`;

const nonceKey = (prefix: string, nonce: string) => `${prefix}:cbn:${nonce}`;
const binding = (telegramId: number, action: string) => `${telegramId}|${action}`;

function verdictOf(result: unknown, telegramId: number): NonceVerdict {
  if (result === 1) return 'ok';
  if (typeof result !== 'string') return 'unknown';
  return result.startsWith(`${telegramId}|`) ? 'wrong_action' : 'wrong_user';
}

/** Issues a nonce bound to the person and the action (e.g. the data without the nonce). */
export async function issueNonce(
  store: NonceStore,
  input: { telegramId: number; action: string; ttlSeconds?: number },
): Promise<string> {
  const nonce = randomBytes(NONCE_BYTES).toString('base64url');
  await store.redis.set(
    nonceKey(store.redisPrefix, nonce),
    binding(input.telegramId, input.action),
    'EX',
    input.ttlSeconds ?? NONCE_TTL_SECONDS,
  );
  return nonce;
}

/** Consumes a nonce and says why when it cannot be used. */
export async function takeNonce(
  store: NonceStore,
  input: { telegramId: number; action: string; nonce: string },
): Promise<NonceVerdict> {
  if (!NONCE_PATTERN.test(input.nonce)) return 'unknown';
  const result = await store.redis.eval(
    CONSUME_SCRIPT,
    1,
    nonceKey(store.redisPrefix, input.nonce),
    binding(input.telegramId, input.action),
  );
  return verdictOf(result, input.telegramId);
}

/** True exactly once for the person and action it was issued for; false if unknown, expired, used or not theirs. */
export async function consumeNonce(
  store: NonceStore,
  input: { telegramId: number; action: string; nonce: string },
): Promise<boolean> {
  return (await takeNonce(store, input)) === 'ok';
}

/** Nonces without Redis (a bot built without it: development and some tests). One process only. */
interface NonceBackend {
  issue(input: { telegramId: number; action: string; ttlSeconds?: number }): Promise<string>;
  take(input: { telegramId: number; action: string; nonce: string }): Promise<NonceVerdict>;
}

function memoryNonces(now: () => number): NonceBackend {
  const entries = new Map<string, { value: string; expiresAt: number }>();
  return {
    async issue(input) {
      const nonce = randomBytes(NONCE_BYTES).toString('base64url');
      if (entries.size > 10_000) {
        for (const [key, entry] of entries) if (entry.expiresAt <= now()) entries.delete(key);
      }
      entries.set(nonce, {
        value: binding(input.telegramId, input.action),
        expiresAt: now() + (input.ttlSeconds ?? NONCE_TTL_SECONDS) * 1000,
      });
      return nonce;
    },
    async take(input) {
      const entry = entries.get(input.nonce);
      if (!entry || entry.expiresAt <= now()) {
        entries.delete(input.nonce);
        return 'unknown';
      }
      if (entry.value !== binding(input.telegramId, input.action)) return verdictOf(entry.value, input.telegramId);
      entries.delete(input.nonce);
      return 'ok';
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Schema: argument types and button kinds
// ---------------------------------------------------------------------------------------------------------------

/** Telegram's limit for callback data. */
export const CALLBACK_DATA_MAX_BYTES = 64;
/** Every byte callback data may contain: ASCII letters, digits and `_ - : . ! ~`. Anything else is forged. */
const SAFE_DATA = /^[A-Za-z0-9_\-:.!~]+$/;
/** Characters an argument may contain (the separator `:` and the owner mark `~` excluded). */
const SAFE_ARG = /^[A-Za-z0-9_\-.!]+$/;

/** One typed argument: how it is checked and written. */
export interface ArgSpec<T> {
  readonly kind: string;
  parse(raw: string): T | undefined;
  format(value: T): string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const arg = {
  /** A lowercase UUID (database ids). */
  uuid(): ArgSpec<string> {
    return { kind: 'uuid', parse: (raw) => (UUID.test(raw) ? raw : undefined), format: (value) => value };
  },
  /** A decimal integer in [min, max] written canonically (no sign for positives, no leading zeros). */
  int(min: number, max: number): ArgSpec<number> {
    return {
      kind: 'int',
      parse: (raw) => {
        if (!/^(?:0|-?[1-9]\d{0,15})$/.test(raw)) return undefined;
        const value = Number(raw);
        return Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
      },
      format: (value) => String(value),
    };
  },
  /** One of a fixed set of words. */
  oneOf<const T extends string>(values: readonly T[]): ArgSpec<T> {
    return {
      kind: 'enum',
      parse: (raw) => ((values as readonly string[]).includes(raw) ? (raw as T) : undefined),
      format: (value) => value,
    };
  },
  /** A string matching `pattern` (anchored), e.g. an identifier or an opaque id. */
  text(pattern: RegExp): ArgSpec<string> {
    const anchored = new RegExp(`^(?:${pattern.source})$`);
    return {
      kind: 'text',
      parse: (raw) => (SAFE_ARG.test(raw) && anchored.test(raw) ? raw : undefined),
      format: (value) => value,
    };
  },
};

type ArgsOf<Specs extends readonly ArgSpec<unknown>[]> = {
  -readonly [K in keyof Specs]: Specs[K] extends ArgSpec<infer T> ? T : never;
};

/** A kind of button, declared once. */
export interface ButtonKind<Args extends readonly unknown[] = readonly unknown[]> {
  readonly prefix: string;
  readonly specs: readonly ArgSpec<unknown>[];
  /** Destructive: the data carries a single-use nonce bound to the person and the exact action. */
  readonly nonce: boolean;
  /** The data names who may press it (for buttons that can appear in groups; nonce buttons are bound anyway). */
  readonly bound: boolean;
  /** Phantom: the argument types. */
  readonly __args?: Args;
}

/** Declares a kind of button: `button('ak:rot', [arg.uuid()], { nonce: true })`. */
export function button<const Specs extends readonly ArgSpec<unknown>[]>(
  prefix: string,
  specs: Specs,
  options: { nonce?: boolean; bound?: boolean } = {},
): ButtonKind<ArgsOf<Specs>> {
  if (!/^[a-z][a-z0-9_\-!]*(?::[a-z0-9_\-!]+)*$/.test(prefix)) throw new Error(`Bad button prefix ${prefix}`);
  return { prefix, specs, nonce: options.nonce ?? false, bound: options.bound ?? false };
}

/** The owner tag of a bound button: the Telegram id in base 36 (the group already sees whose button it is). */
const ownerTag = (telegramId: number) => `~${telegramId.toString(36)}`;

function actionOf(kind: ButtonKind, args: readonly unknown[]): string {
  const parts = [kind.prefix, ...kind.specs.map((spec, index) => spec.format(args[index]))];
  return parts.join(':');
}

function checkedData(data: string): string {
  if (Buffer.byteLength(data) > CALLBACK_DATA_MAX_BYTES || !SAFE_DATA.test(data)) {
    throw new Error(`Callback data for ${data.split(':')[0]} is over ${CALLBACK_DATA_MAX_BYTES} bytes or unsafe`);
  }
  return data;
}

/** Data of a button without a nonce. `owner` is required for bound kinds. */
export function buildData<Args extends readonly unknown[]>(
  kind: ButtonKind<Args>,
  args: Args,
  options: { owner?: number } = {},
): string {
  if (kind.nonce) throw new Error(`Button ${kind.prefix} needs a nonce: use issueData`);
  if (kind.bound && options.owner === undefined) throw new Error(`Button ${kind.prefix} needs its owner`);
  const action = actionOf(kind, args);
  return checkedData(kind.bound && options.owner !== undefined ? `${action}:${ownerTag(options.owner)}` : action);
}

/** A successfully parsed tap. */
export interface ParsedData<Args extends readonly unknown[] = readonly unknown[]> {
  kind: ButtonKind<Args>;
  args: Args;
  /** The action a nonce is bound to: the data without the owner tag and nonce. */
  action: string;
  owner?: number;
  nonce?: string;
}

/** Parses data against one kind; undefined when it does not fit exactly. */
export function parseData<Args extends readonly unknown[]>(
  kind: ButtonKind<Args>,
  data: unknown,
): ParsedData<Args> | undefined {
  if (typeof data !== 'string' || data.length === 0) return undefined;
  if (Buffer.byteLength(data) > CALLBACK_DATA_MAX_BYTES || !SAFE_DATA.test(data)) return undefined;
  if (data !== kind.prefix && !data.startsWith(`${kind.prefix}:`)) return undefined;
  const rest = data === kind.prefix ? [] : data.slice(kind.prefix.length + 1).split(':');
  const expected = kind.specs.length + (kind.bound ? 1 : 0) + (kind.nonce ? 1 : 0);
  if (rest.length !== expected) return undefined;
  const args: unknown[] = [];
  for (const [index, spec] of kind.specs.entries()) {
    const raw = rest[index] ?? '';
    if (raw === '' || !SAFE_ARG.test(raw)) return undefined;
    const value = spec.parse(raw);
    if (value === undefined) return undefined;
    args.push(value);
  }
  const parsed: ParsedData<Args> = { kind, args: args as unknown as Args, action: actionOf(kind, args) };
  let next = kind.specs.length;
  if (kind.bound) {
    const tag = rest[next++] ?? '';
    if (!/^~[0-9a-z]{1,11}$/.test(tag)) return undefined;
    const owner = Number.parseInt(tag.slice(1), 36);
    if (!Number.isSafeInteger(owner) || ownerTag(owner) !== tag) return undefined;
    parsed.owner = owner;
  }
  if (kind.nonce) {
    const nonce = rest[next] ?? '';
    if (!NONCE_PATTERN.test(nonce)) return undefined;
    parsed.nonce = nonce;
  }
  return parsed;
}

const shapeOf = (kind: ButtonKind) => `${kind.specs.map((spec) => spec.kind).join(',')}|${kind.nonce}|${kind.bound}`;

/** A set of kinds whose prefixes are unambiguous: parses any data to the kind it claims to be. */
export class ButtonRegistry {
  readonly #kinds = new Map<string, ButtonKind>();

  add(...kinds: ButtonKind<readonly unknown[]>[]): this {
    for (const kind of kinds) {
      const existing = this.#kinds.get(kind.prefix);
      // The same button declared in two places is fine; two different buttons under one prefix are a bug.
      if (existing && existing !== kind && shapeOf(existing) !== shapeOf(kind)) {
        throw new Error(`Button prefix ${kind.prefix} declared twice`);
      }
      this.#kinds.set(kind.prefix, kind);
    }
    return this;
  }

  /** The kind whose prefix the data claims (the longest match), even when the rest is malformed. */
  claimed(data: string): ButtonKind | undefined {
    let best: ButtonKind | undefined;
    for (const kind of this.#kinds.values()) {
      if (
        (data === kind.prefix || data.startsWith(`${kind.prefix}:`)) &&
        kind.prefix.length > (best?.prefix.length ?? -1)
      )
        best = kind;
    }
    return best;
  }

  parse(data: unknown): ParsedData | undefined {
    if (typeof data !== 'string') return undefined;
    const kind = this.claimed(data);
    return kind ? parseData(kind, data) : undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The bot side: issuing, handling, refusing
// ---------------------------------------------------------------------------------------------------------------

/** Why a tap was refused (the security event's reason code). */
export type RejectReason = 'MALFORMED' | 'WRONG_USER' | 'NONCE_INVALID';

export const CALLBACK_REJECTED_ACTION = 'security.bot_callback_rejected';
/** One security event per person and minute: a flood of forged taps writes one row. */
export const REJECT_EVENT_WINDOW_SECONDS = 60;

/** Buttons handled by code that declares no kind of its own: the help button, conversations, the consent step. */
export const COMMON_BUTTONS: readonly ButtonKind[] = [
  button('help', []),
  button('conv:cancel', []),
  button('cs:t', [arg.int(0, 999)]),
  button('cs:s', [arg.int(0, 999)]),
];

export interface CallbacksDeps {
  db: Db;
  /** Nonces and the event dedupe live here; without Redis, in this process's memory. */
  redis?: Redis | undefined;
  redisPrefix?: string | undefined;
  audit?: Pick<AuditLog, 'record'> | undefined;
  logger?: Logger | undefined;
  now?: () => number;
}

export type CallbackHandler<C extends Context, Args extends readonly unknown[]> = (
  ctx: Filter<C, 'callback_query:data'>,
  args: Args,
  parsed: ParsedData<Args>,
) => unknown;

/** The bot's callback service: one per bot (features get it in their deps). */
export interface Callbacks {
  /** Every kind declared through `handle` (and `known`). */
  readonly registry: ButtonRegistry;
  /** Data for a destructive button: issues a nonce bound to `telegramId` and this exact action. */
  issueData<Args extends readonly unknown[]>(
    kind: ButtonKind<Args>,
    args: Args,
    telegramId: number,
    options?: { ttlSeconds?: number },
  ): Promise<string>;
  /** Data for any other button. */
  data<Args extends readonly unknown[]>(kind: ButtonKind<Args>, args: Args, options?: { owner?: number }): string;
  /**
   * Registers a handler for a kind on `composer`: any data claiming the kind's prefix is parsed strictly, the
   * owner and nonce checked (the nonce consumed) and only then `handler` runs; anything else is refused.
   */
  handle<C extends Context, Args extends readonly unknown[]>(
    composer: Composer<C>,
    kind: ButtonKind<Args>,
    handler: CallbackHandler<C, Args>,
  ): void;
  /** Declares kinds handled elsewhere (conversations, other plugins) so the fallback does not call them forged. */
  known(...kinds: ButtonKind<readonly unknown[]>[]): void;
  /**
   * Refuses a tap: the polite answer (or `answer`, a feature's own wording), plus a security event
   * (deduplicated) for forged data.
   */
  reject(ctx: Context, reason: RejectReason, answer?: { text: string; show_alert?: boolean }): Promise<void>;
  /**
   * The last stop for taps no feature took: data that fits no declared kind is forged (refused with an event);
   * a well-formed but stale button just gets the polite answer.
   */
  fallback(): MiddlewareFn<Context>;
}

export function createCallbacks(deps: CallbacksDeps): Callbacks {
  const now = deps.now ?? Date.now;
  const prefix = deps.redisPrefix ?? 'tsp';
  const redis = deps.redis;
  const store: NonceStore | undefined = redis ? { redis, redisPrefix: prefix } : undefined;
  const nonces: NonceBackend = store
    ? { issue: (input) => issueNonce(store, input), take: (input) => takeNonce(store, input) }
    : memoryNonces(now);
  // Buttons declared outside the features that register theirs with `handle`.
  const registry = new ButtonRegistry().add(...COMMON_BUTTONS);
  const recentEvents = new Map<string, number>();
  const log = deps.logger?.child({ component: 'bot-callbacks' });

  /** True for the first event of this person in the window (Redis across processes, memory without it). */
  async function firstInWindow(telegramId: number): Promise<boolean> {
    // Hashed: no Telegram id in Redis keys.
    const who = createHash('sha256').update(`cb-rejected:${telegramId}`).digest('base64url').slice(0, 16);
    if (redis) {
      const set = await redis
        .set(`${prefix}:cb-rejected:${who}`, '1', 'EX', REJECT_EVENT_WINDOW_SECONDS, 'NX')
        .catch(() => null);
      return set === 'OK';
    }
    const at = now();
    const last = recentEvents.get(who);
    if (last !== undefined && at - last < REJECT_EVENT_WINDOW_SECONDS * 1000) return false;
    if (recentEvents.size > 10_000) recentEvents.clear();
    recentEvents.set(who, at);
    return true;
  }

  async function reject(
    ctx: Context,
    reason: RejectReason,
    answer?: { text: string; show_alert?: boolean },
  ): Promise<void> {
    try {
      await ctx.answerCallbackQuery(answer ?? { text: ctx.t('unhandled.callback') });
    } catch {
      // The query may have expired already: nothing else to answer.
    }
    const telegramId = ctx.from?.id;
    if (telegramId === undefined) return;
    try {
      if (!(await firstInWindow(telegramId))) return;
      log?.warn({ updateId: ctx.update.update_id, reason }, 'Callback data rejected');
      if (!deps.audit) return;
      const person = await findUserByTelegramId(deps.db, telegramId);
      await deps.audit.record({
        actor: person ? { type: 'user', id: person.id } : { type: 'anonymous' },
        action: CALLBACK_REJECTED_ACTION,
        result: 'denied',
        reasonCode: reason,
        source: 'bot',
      });
    } catch (error) {
      // The refusal stands even when the event cannot be written.
      log?.error({ err: error instanceof Error ? error.message : String(error) }, 'Callback event not recorded');
    }
  }

  const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  return {
    registry,
    async issueData(kind, args, telegramId, options = {}) {
      if (!kind.nonce) throw new Error(`Button ${kind.prefix} has no nonce: use data`);
      const action = actionOf(kind, args);
      const nonce = await nonces.issue({
        telegramId,
        action,
        ...(options.ttlSeconds !== undefined ? { ttlSeconds: options.ttlSeconds } : {}),
      });
      return checkedData(`${action}:${nonce}`);
    },
    data: (kind, args, options = {}) => buildData(kind, args, options),
    handle(composer, kind, handler) {
      registry.add(kind as ButtonKind);
      composer.callbackQuery(new RegExp(`^${escapeRegExp(kind.prefix)}(?::|$)`), async (ctx, next) => {
        const data = ctx.callbackQuery.data;
        // A longer prefix declared elsewhere (e.g. `md:d` and `md:d:x`) is that kind's business.
        const claimed = registry.claimed(data);
        if (claimed && claimed.prefix !== kind.prefix) return next();
        const parsed = parseData(kind, data);
        if (!parsed) return reject(ctx, 'MALFORMED');
        if (parsed.owner !== undefined && parsed.owner !== ctx.from.id) return reject(ctx, 'WRONG_USER');
        if (parsed.nonce !== undefined) {
          const verdict = await nonces.take({ telegramId: ctx.from.id, action: parsed.action, nonce: parsed.nonce });
          if (verdict === 'wrong_user') return reject(ctx, 'WRONG_USER');
          if (verdict !== 'ok') return reject(ctx, 'NONCE_INVALID');
        }
        await handler(ctx, parsed.args, parsed);
      });
    },
    known(...kinds) {
      registry.add(...kinds);
    },
    reject,
    fallback() {
      return async (ctx, next) => {
        const data = ctx.callbackQuery?.data;
        if (ctx.callbackQuery === undefined) return next();
        // A game or inline button without data, or a well-formed button of a feature that is off: no event.
        if (data !== undefined && registry.parse(data) === undefined) return reject(ctx, 'MALFORMED');
        return next();
      };
    },
  };
}
