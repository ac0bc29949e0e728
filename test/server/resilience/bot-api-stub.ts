/**
 * A stand-in for Telegram's Bot API on 127.0.0.1 (the product reaches it through TELEGRAM_API_ROOT): records
 * every call (method + JSON payload) and answers as Telegram does. `sendMessage` can answer after a delay, so a
 * webhook update stays in flight long enough for a test to act on it.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_BOT_INFO } from '#test/helpers/create-test-bot.ts';

export interface StubCall {
  method: string;
  payload: Record<string, unknown>;
}

export interface BotApiStub {
  apiRoot: string;
  calls: StubCall[];
  callsOf(method: string): StubCall[];
  /** Milliseconds sendMessage waits before answering. */
  setSendDelay(ms: number): void;
  stop(): Promise<void>;
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text || !(request.headers['content-type'] ?? '').includes('json')) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export async function startBotApiStub(): Promise<BotApiStub> {
  const calls: StubCall[] = [];
  let sendDelayMs = 0;
  let messageId = 1;
  const server = createServer(async (request, response) => {
    const method = (request.url ?? '').split('/').pop()?.split('?')[0] ?? '';
    const payload = await readJson(request);
    calls.push({ method, payload });
    let result: unknown = true;
    if (method === 'getMe') result = TEST_BOT_INFO;
    if (method === 'sendMessage' || method === 'editMessageText') {
      if (method === 'sendMessage' && sendDelayMs > 0) await sleep(sendDelayMs);
      const chatId = Number(payload.chat_id);
      result = {
        message_id: messageId++,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: 'private', first_name: 'User' },
        text: String(payload.text ?? ''),
      };
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: true, result }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiRoot: `http://127.0.0.1:${port}`,
    calls,
    callsOf: (method) => calls.filter((call) => call.method === method),
    setSendDelay(ms) {
      sendDelayMs = ms;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
