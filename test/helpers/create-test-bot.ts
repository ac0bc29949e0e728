/**
 * createTestBot(): the real bot driven offline. A fake `fetch` at the HTTP client's edge records every
 * Bot API call (method + JSON payload) and answers like Telegram does, so conversations and menus work too
 * (grammY's api.config.use transformers are not applied inside conversations v2).
 */
import type { Bot } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';
import type { Context } from '#bot/context.ts';
import { type BotDeps, createBot } from '#bot/create-bot.ts';
import type { ApiKeyService } from '#shared/api-keys/index.ts';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import { createLogger, type Logger } from '#shared/logger.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';

export interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
  /** What the fake Telegram answered (e.g. the sent message with its message_id). */
  result?: unknown;
}

export const TEST_BOT_TOKEN = '123456789:AAH-test-token-for-offline-tests-only0';
export const TEST_BOT_INFO: UserFromGetMe = {
  id: 123456789,
  is_bot: true,
  first_name: 'Security Bot',
  username: 'security_test_bot',
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false,
} as UserFromGetMe;

export interface TestBot {
  bot: Bot<Context>;
  calls: ApiCall[];
  /** Calls of one method, in order. */
  callsOf(method: string): ApiCall[];
  /** Feeds an update through the whole middleware stack. */
  handle(update: Update): Promise<void>;
  /** Makes the next call of `method` fail with Telegram's error (e.g. 403 bot was blocked). */
  failNext(method: string, errorCode: number, description: string): void;
  /** Who the fake Telegram reports as a group's administrators (getChatAdministrators, getChatMember). */
  setChatAdmins(chatId: number, userIds: readonly number[]): void;
  fetch: typeof fetch;
}

/** Group administrators the fake Telegram answers with, per chat (set through `setChatAdmins`). */
const chatAdmins = new Map<number, readonly number[]>();

let messageIds = 1000;

/**
 * The payload of a multipart request (grammY uploads files so, e.g. sendPhoto with an InputFile): text fields
 * as strings (numbers as numbers), each file as `{ filename, bytes }`.
 */
async function multipartPayload(body: unknown, contentType: string): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array | string>) chunks.push(Buffer.from(chunk));
  const raw = Buffer.concat(chunks);
  const boundary = /boundary=(.+)$/.exec(contentType)?.[1] ?? '';
  const parts = new Map<string, Buffer>();
  for (const part of raw.toString('latin1').split(`--${boundary}`)) {
    const [head, ...rest] = part.split('\r\n\r\n');
    const name = /name="([^"]+)"/.exec(head ?? '')?.[1];
    if (name) parts.set(name, Buffer.from(rest.join('\r\n\r\n').replace(/\r\n$/, ''), 'latin1'));
  }
  const payload: Record<string, unknown> = {};
  for (const [name, bytes] of parts) {
    const text = bytes.toString('utf8');
    // grammY names a file `attach://<part>` in its field and sends the bytes as that part.
    if (text.startsWith('attach://')) {
      payload[name] = { bytes: parts.get(text.slice('attach://'.length)) ?? Buffer.alloc(0) };
    } else if (!payload[name]) {
      payload[name] = /^-?\d+$/.test(text) ? Number(text) : text;
    }
  }
  // Drop the raw file parts themselves (they are under their fields now).
  for (const [name, value] of Object.entries(payload)) {
    if (typeof value === 'object' && value !== null) continue;
    if ([...parts.keys()].some((key) => payload[key] && String(parts.get(key)).startsWith(`attach://${name}`))) {
      delete payload[name];
    }
  }
  return payload;
}

/** What Telegram would answer for `method`, good enough for the bot's code paths. */
function fakeResult(method: string, payload: Record<string, unknown>): unknown {
  const chatId = Number(payload.chat_id ?? 0);
  switch (method) {
    case 'sendMessage':
    case 'editMessageText':
      return {
        message_id: ++messageIds,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: chatId > 0 ? 'private' : 'supergroup' },
        text: payload.text,
        ...(payload.reply_markup ? { reply_markup: payload.reply_markup } : {}),
      };
    case 'sendPhoto':
      return {
        message_id: ++messageIds,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: chatId > 0 ? 'private' : 'supergroup' },
        photo: [{ file_id: 'photo-file-id', file_unique_id: 'photo-unique', width: 480, height: 480 }],
        ...(payload.caption ? { caption: payload.caption } : {}),
      };
    case 'getMe':
      return TEST_BOT_INFO;
    case 'getChatAdministrators':
      return (chatAdmins.get(chatId) ?? []).map((id) => ({
        status: 'administrator',
        user: { id, is_bot: false, first_name: `Admin ${id}` },
        can_be_edited: false,
        is_anonymous: false,
      }));
    case 'getChatMember': {
      const userId = Number(payload.user_id ?? 0);
      const admin = (chatAdmins.get(chatId) ?? []).includes(userId);
      return {
        status: admin ? 'administrator' : 'member',
        user: { id: userId, is_bot: false, first_name: `User ${userId}` },
        ...(admin ? { can_be_edited: false, is_anonymous: false } : {}),
      };
    }
    default:
      return true;
  }
}

export function createTestBot(deps: {
  db: Db;
  logger?: Logger;
  adminTelegramIds?: number[];
  publicUrl?: string;
  apiKeys?: ApiKeyService;
  sessions?: SessionStore;
  audit?: Pick<AuditLog, 'record'>;
  /** Decisions enforcement and the admin /decisions, /stats commands. */
  defense?: BotDeps['defense'];
  /** Vulnerability scans (the admin /scan command). */
  scanner?: BotDeps['scanner'];
  /** Redis for conversations (and the bot's step-up freshness); conversations are off without it. */
  redis?: BotDeps['redis'];
  redisPrefix?: string;
  /** Two-factor codes (/mfa, step-up, the admin gate); needs `redis`. */
  mfa?: BotDeps['mfa'];
  /** A conversation wait's timeout in ms. */
  conversationWaitMs?: number;
  /** Messages older than this are dropped by the intake (needs `redis`). */
  maxUpdateAgeSeconds?: number;
  /** Consent gate, /privacy, /mydata, /dsr. */
  privacy?: BotDeps['privacy'];
  /** The /admin menu: role notices and key rotation. */
  admin?: BotDeps['admin'];
  /** Anti-spam in groups, /ban /mute /warn and the join challenge (needs `redis`). */
  antispam?: BotDeps['antispam'];
  /** Outgoing calls (bot/outgoing.ts); default: no throttler, so tests run at their own pace. */
  outgoing?: BotDeps['outgoing'];
  /** Conversation state store (default: Redis directly, nothing cached). */
  conversationState?: BotDeps['conversationState'];
}): TestBot {
  const calls: ApiCall[] = [];
  const failures = new Map<string, { error_code: number; description: string }>();
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = url.split('/').pop() ?? '';
    const contentType = String((init?.headers as Record<string, string> | undefined)?.['content-type'] ?? '');
    const payload = !init?.body
      ? {}
      : contentType.startsWith('multipart/form-data')
        ? await multipartPayload(init.body, contentType)
        : (JSON.parse(String(init.body)) as Record<string, unknown>);
    const call: ApiCall = { method, payload };
    calls.push(call);
    const failure = failures.get(method);
    if (failure) {
      failures.delete(method);
      return new Response(JSON.stringify({ ok: false, ...failure }), { status: failure.error_code });
    }
    call.result = fakeResult(method, payload);
    return new Response(JSON.stringify({ ok: true, result: call.result }), {
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  const bot = createBot(TEST_BOT_TOKEN, {
    db: deps.db,
    logger: deps.logger ?? createLogger({ level: 'silent' }),
    adminTelegramIds: deps.adminTelegramIds ?? [],
    publicUrl: deps.publicUrl,
    apiRoot: 'https://api.telegram.invalid',
    botInfo: TEST_BOT_INFO,
    fetch: fakeFetch,
    ...(deps.apiKeys ? { apiKeys: deps.apiKeys } : {}),
    ...(deps.sessions ? { sessions: deps.sessions } : {}),
    ...(deps.audit ? { audit: deps.audit } : {}),
    ...(deps.defense ? { defense: deps.defense } : {}),
    ...(deps.scanner ? { scanner: deps.scanner } : {}),
    ...(deps.redis ? { redis: deps.redis, redisPrefix: deps.redisPrefix ?? 'test' } : {}),
    ...(deps.mfa ? { mfa: deps.mfa } : {}),
    ...(deps.conversationWaitMs !== undefined ? { conversationWaitMs: deps.conversationWaitMs } : {}),
    ...(deps.maxUpdateAgeSeconds !== undefined ? { maxUpdateAgeSeconds: deps.maxUpdateAgeSeconds } : {}),
    ...(deps.privacy ? { privacy: deps.privacy } : {}),
    ...(deps.admin ? { admin: deps.admin } : {}),
    ...(deps.antispam ? { antispam: deps.antispam } : {}),
    ...(deps.conversationState ? { conversationState: deps.conversationState } : {}),
    outgoing: deps.outgoing ?? { throttle: false },
  });
  return {
    bot,
    calls,
    callsOf: (method) => calls.filter((call) => call.method === method),
    handle: (update) => bot.handleUpdate(update),
    failNext: (method, errorCode, description) => failures.set(method, { error_code: errorCode, description }),
    setChatAdmins: (chatId, userIds) => chatAdmins.set(chatId, userIds),
    fetch: fakeFetch,
  };
}
