/**
 * A Bot API emulator for end-to-end tests: telegram-test-api's TelegramServer (a real third-party emulator)
 * behind a thin front on 127.0.0.1 that the product reaches through TELEGRAM_API_ROOT. The front
 * - records every Bot API call the bot makes (method + JSON payload), in order;
 * - long-polls getUpdates the way Telegram does (the emulator answers at once, ignoring `timeout`, which
 *   would make @grammyjs/runner spin in a tight request loop);
 * - answers the few methods the emulator lacks (setMyCommands, deleteMyCommands: the emulator answers HTTP 500
 *   without `ok`)
 *   with Telegram's result;
 * - forwards everything else unchanged, so the product sees the emulator's own answers.
 * Users talk to the bot through the emulator's client API (sendCommand, sendMessage, sendCallback) and read
 * the bot's messages from it (getUpdates for a chat), with bounded waits.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TelegramClient } from 'telegram-test-api/lib/modules/telegramClient.js';
import { TelegramServer } from 'telegram-test-api/lib/telegramServer.js';
import { freePort } from './spawn-server.ts';

export interface BotApiCall {
  method: string;
  payload: Record<string, unknown>;
}

/** Methods telegram-test-api 4.2 does not implement, answered here with what Telegram returns. */
const MISSING_METHODS: Record<string, (payload: Record<string, unknown>) => unknown> = {
  setMyCommands: () => true,
  deleteMyCommands: () => true,
};

/** The longest getUpdates `timeout` Telegram honours (seconds). */
const MAX_POLL_TIMEOUT_S = 50;
const USER_UPDATE_EVENTS = ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery'] as const;

/** What the bot sent with sendMessage, as the emulator stored it. */
export interface SentMessage {
  chat_id: number | string;
  text: string;
  reply_markup?: { inline_keyboard?: { text: string; callback_data?: string; web_app?: { url: string } }[][] };
  [key: string]: unknown;
}

export interface ChatUser {
  id: number;
  first_name: string;
  username?: string;
  language_code?: string;
}

/** A private chat between one user and the bot, driven through the emulator's client API. */
export interface EmulatedChat {
  /** Sends a command (`/start`, `/help arg`) with its bot_command entity, as the Telegram app does. */
  sendCommand(text: string): Promise<void>;
  /** Sends a plain text message. */
  sendText(text: string): Promise<void>;
  /** Taps an inline button with this callback_data. */
  pressButton(callbackData: string): Promise<void>;
  /**
   * Waits until the bot has sent at least `count` messages to this chat that were not read yet, and returns
   * all of them (so a test can assert there were not more).
   * @throws when fewer arrive within `timeoutMs`.
   */
  nextBotMessages(count: number, timeoutMs?: number): Promise<SentMessage[]>;
}

export interface BotApiEmulator {
  /** TELEGRAM_API_ROOT for the product (grammY calls `${apiRoot}/bot${token}/${method}`). */
  apiRoot: string;
  /** The underlying telegram-test-api server. */
  telegram: TelegramServer;
  /** Every Bot API call received, in order. */
  calls: BotApiCall[];
  callsOf(method: string): BotApiCall[];
  /** Opens a private chat between `user` and the bot with `token`. */
  chat(token: string, user: ChatUser): EmulatedChat;
  stop(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parsePayload(body: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (body.length === 0) return {};
  if (contentType?.includes('application/json')) return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  if (contentType?.includes('application/x-www-form-urlencoded'))
    return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
  return {};
}

/** Starts the emulator and its front on free ports of 127.0.0.1. */
export async function startBotApiEmulator(): Promise<BotApiEmulator> {
  const telegram = new TelegramServer({ host: '127.0.0.1', port: await freePort(), storeTimeout: 300 });
  await telegram.start();
  const upstream = telegram.config.apiURL;
  const calls: BotApiCall[] = [];

  /** Resolves when a user update arrives, `ms` pass, or `signal` aborts; never leaves listeners behind. */
  const userUpdateOrTimeout = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const event of USER_UPDATE_EVENTS) telegram.off(event, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      for (const event of USER_UPDATE_EVENTS) telegram.on(event, done);
      signal.addEventListener('abort', done, { once: true });
    });

  const longPoll = async (token: string, payload: Record<string, unknown>, res: ServerResponse) => {
    const timeoutS = Math.max(0, Math.min(Number(payload.timeout ?? 0) || 0, MAX_POLL_TIMEOUT_S));
    const deadline = Date.now() + timeoutS * 1_000;
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    for (;;) {
      // The bot hung up (the runner aborts its poll on stop): leave the updates queued, as Telegram does.
      if (gone.signal.aborted) return;
      const result = telegram.getUpdates(token);
      const remaining = deadline - Date.now();
      if (result.length > 0 || remaining <= 0) {
        sendJson(res, 200, { ok: true, result });
        return;
      }
      await userUpdateOrTimeout(remaining, gone.signal);
    }
  };

  const forward = async (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const response = await fetch(`${upstream}${req.url ?? '/'}`, {
      method: req.method ?? 'POST',
      headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
      ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body: new Uint8Array(body) }),
    });
    const answer = Buffer.from(await response.arrayBuffer());
    if (res.destroyed) return;
    res.writeHead(response.status, { 'content-type': response.headers.get('content-type') ?? 'application/json' });
    res.end(answer);
  };

  const front = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(new URL(req.url ?? '/', 'http://front').pathname);
      if (match) {
        const [, token = '', method = ''] = match;
        const payload = parsePayload(body, req.headers['content-type']);
        calls.push({ method, payload });
        const missing = MISSING_METHODS[method];
        if (missing) return sendJson(res, 200, { ok: true, result: missing(payload) });
        if (method === 'getUpdates') return await longPoll(token, payload, res);
      }
      await forward(req, body, res);
    })().catch((error: unknown) => sendJson(res, 500, { ok: false, error_code: 500, description: String(error) }));
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(0, '127.0.0.1', () => resolve());
  });
  const apiRoot = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;

  const chat = (token: string, user: ChatUser): EmulatedChat => {
    const client: TelegramClient = telegram.getClient(token, {
      userId: user.id,
      chatId: user.id,
      firstName: user.first_name,
      userName: user.username ?? `user${user.id}`,
      type: 'private',
    });
    const from = {
      id: user.id,
      is_bot: false,
      first_name: user.first_name,
      username: user.username ?? `user${user.id}`,
      ...(user.language_code ? { language_code: user.language_code } : {}),
    };
    return {
      async sendCommand(text) {
        await client.sendCommand(client.makeCommand(text, { from }));
      },
      async sendText(text) {
        await client.sendMessage(client.makeMessage(text, { from }));
      },
      async pressButton(callbackData) {
        await client.sendCallback(client.makeCallbackQuery(callbackData, { from }));
      },
      async nextBotMessages(count, timeoutMs = 15_000) {
        const received: SentMessage[] = [];
        const deadline = Date.now() + timeoutMs;
        while (received.length < count) {
          if (Date.now() > deadline) {
            throw new Error(
              `the bot sent ${received.length} of ${count} expected message(s) to chat ${user.id} in ${timeoutMs} ms: ` +
                JSON.stringify(received),
            );
          }
          // The emulator's client API: the bot's unread messages to this chat (reading marks them read).
          const response = await fetch(`${upstream}/getUpdates`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ token, chatId: user.id }),
          });
          const data = (await response.json()) as { result: { message: SentMessage }[] };
          received.push(...data.result.map((update) => update.message));
          if (received.length < count) await sleep(25);
        }
        return received;
      },
    };
  };

  return {
    apiRoot,
    telegram,
    calls,
    callsOf: (method) => calls.filter((call) => call.method === method),
    chat,
    async stop() {
      await new Promise<void>((resolve) => {
        front.close(() => resolve());
        front.closeAllConnections();
      });
      await telegram.stop();
    },
  };
}
