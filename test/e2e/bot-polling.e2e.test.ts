/**
 * Guarantees that the one `npm start` process (server/main.ts, every role) also runs the bot by long polling
 * when BOT_TOKEN is set, answers real users through a Bot API emulator, never logs the token, stops cleanly
 * on SIGTERM, and stays quiet (no Telegram traffic, one clear log line) when BOT_TOKEN is unset.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { BOT_COMMANDS } from '#bot/create-bot.ts';
import { LOCALES } from '#bot/i18n/index.ts';
import { ALLOWED_UPDATES } from '#bot/run.ts';
import { type BotApiEmulator, type EmulatedChat, startBotApiEmulator } from '#test/helpers/bot-api-emulator.ts';
import { type SpawnedServer, spawnServer } from '#test/helpers/spawn-server.ts';

/** A token in BotFather's format, valid only against the emulator. */
const BOT_TOKEN = '7012345678:AAE2e-polling-token-for-the-emulator-only';
const ALICE = { id: 279058397, first_name: 'Alice', username: 'alice', language_code: 'en' };

const POLLING_LINE = /Bot @\w+ is running \(long polling\)/;
const DISABLED_LINE = 'Bot disabled: BOT_TOKEN is unset';

interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** The product's pino lines (anything else on stdout/stderr, e.g. a runner's console.error, as an error). */
function logLines(server: SpawnedServer): LogLine[] {
  return server
    .logs()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        return { level: 'error', msg: line };
      }
    });
}

function linesMatching(server: SpawnedServer, pattern: RegExp | string): LogLine[] {
  return logLines(server).filter((line) =>
    typeof pattern === 'string' ? line.msg.includes(pattern) : pattern.test(line.msg),
  );
}

/** Waits (bounded) for a log line; start-up logs arrive on a pipe, not in step with /healthz. */
async function waitForLog(server: SpawnedServer, pattern: RegExp | string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (linesMatching(server, pattern).length === 0) {
    if (server.child.exitCode !== null)
      throw new Error(`server exited with ${server.child.exitCode} before ${pattern}`);
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A DATA_DIR this file owns, so it is removed even when the server fails to start. */
function newDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'tsp-bot-polling-'));
}

function buttons(message: { reply_markup?: { inline_keyboard?: { text: string; callback_data?: string }[][] } }) {
  return (message.reply_markup?.inline_keyboard ?? []).flat();
}

describe('npm start with BOT_TOKEN: the bot runs by long polling in the same process', () => {
  let emulator: BotApiEmulator | undefined;
  let server: SpawnedServer | undefined;
  let dataDir: string | undefined;
  let alice: EmulatedChat;

  beforeAll(async () => {
    emulator = await startBotApiEmulator();
    dataDir = newDataDir();
    server = await spawnServer({ BOT_TOKEN, TELEGRAM_API_ROOT: emulator.apiRoot, DATA_DIR: dataDir });
    // /healthz answers before the bot role starts: wait for the bot itself.
    await waitForLog(server, POLLING_LINE);
    alice = emulator.chat(BOT_TOKEN, ALICE);
  });

  afterAll(async () => {
    await server?.stop();
    await emulator?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  beforeEach(() => {
    onTestFailed(() => {
      console.error(`server logs:\n${server?.logs() ?? '(no server)'}`);
      console.error(`Bot API calls:\n${JSON.stringify(emulator?.calls ?? [], null, 2)}`);
    });
  });

  it('checks the token, sets the menu, drops any webhook, then long-polls for the updates it handles', async () => {
    if (!server || !emulator) throw new Error('not started (see beforeAll)');
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);

    expect(linesMatching(server, POLLING_LINE)).toHaveLength(1);
    expect(linesMatching(server, 'Bot disabled')).toHaveLength(0);

    const methods = emulator.calls.map((call) => call.method);
    const firstPoll = methods.indexOf('getUpdates');
    expect(firstPoll).toBeGreaterThan(0);
    // getMe (token check), the command menus per audience and locale (bot/commands.ts), deleteWebhook (a stale
    // webhook blocks getUpdates).
    const menus = methods.slice(1, firstPoll - 1);
    expect(methods[0]).toBe('getMe');
    expect(methods[firstPoll - 1]).toBe('deleteWebhook');
    expect(menus.length).toBeGreaterThanOrEqual(4 * Object.keys(LOCALES).length);
    for (const method of menus) expect(['setMyCommands', 'deleteMyCommands']).toContain(method);
    // The menu everyone sees in a private chat: the user commands, never the admin ones.
    const privateMenu = emulator
      .callsOf('setMyCommands')
      .find((call) => (call.payload.scope as { type?: string } | undefined)?.type === 'all_private_chats');
    expect(privateMenu?.payload.commands).toEqual(
      BOT_COMMANDS.map(({ command }) => ({ command, description: expect.any(String) })),
    );
    expect(BOT_COMMANDS.map(({ command }) => command)).not.toContain('stats');
    // Long polling (a 30 s timeout held open by the emulator), restricted to the update types the bot handles.
    expect(emulator.callsOf('getUpdates')[0]?.payload).toMatchObject({
      timeout: 30,
      allowed_updates: [...ALLOWED_UPDATES],
    });
  });

  it('/start registers the user, answers with a welcome and a Help button, then asks for privacy choices', async () => {
    await alice.sendCommand('/start');
    const [welcome, consent, ...extra] = await alice.nextBotMessages(2);
    expect(extra).toEqual([]);
    // First contact: the consent step (per-purpose choices, none pre-ticked) follows the welcome.
    expect(consent?.text).toContain('privacy');
    expect(buttons(consent ?? {}).some((button) => button.text.startsWith('☑️'))).toBe(false);
    expect(welcome?.chat_id).toBe(ALICE.id);
    expect(welcome?.text).toContain(`Hi ${ALICE.first_name}!`);
    expect(buttons(welcome ?? {})).toContainEqual({ text: 'Help', callback_data: 'help' });
    // No https PUBLIC_URL: no Mini App button (Telegram opens only https Mini Apps).
    expect(buttons(welcome ?? {})).toHaveLength(1);
  });

  it('the Help button and /help answer with the help text', async () => {
    await alice.pressButton('help');
    const [fromButton, ...extra] = await alice.nextBotMessages(1);
    expect(extra).toEqual([]);
    expect(fromButton?.text).toContain('Here is what I can do');
    expect(emulator?.callsOf('answerCallbackQuery')).toHaveLength(1);

    await alice.sendCommand('/help');
    const [help, ...more] = await alice.nextBotMessages(1);
    expect(more).toEqual([]);
    expect(help?.text).toContain('Here is what I can do');
    expect(help?.text).toContain('/start');
    expect(help?.text).toContain('/help');
  });

  it('before the privacy choices are made, anything but /start, /help and /privacy gets a polite pointer', async () => {
    await alice.sendText('what is my password?');
    const [reply, choices, ...extra] = await alice.nextBotMessages(2);
    expect(extra).toEqual([]);
    expect(reply?.text).toContain('Please make your privacy choices first');
    expect(buttons(choices ?? {}).length).toBeGreaterThan(0); // the choices again, ready to tap
  });

  it('waits on each long poll instead of spinning or retrying on errors', () => {
    // Four user updates so far: about one poll per update, plus the poll waiting now. A runner that dropped the
    // timeout or hit errors (retries every 100 ms and more) would have made many more calls.
    expect(emulator?.callsOf('getUpdates').length).toBeLessThanOrEqual(10);
  });

  it('stops cleanly on SIGTERM without waiting out the 30 s long poll, and never logged the token', async () => {
    if (!server) throw new Error('not started (see beforeAll)');
    const stopping = Date.now();
    const code = await server.stop();
    expect(code).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(15_000);
    expect(linesMatching(server, 'Stopped cleanly')).toHaveLength(1);
    expect(logLines(server).filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
    expect(server.logs()).not.toContain(BOT_TOKEN);
    expect(server.logs()).not.toContain(BOT_TOKEN.split(':')[1]);
  });
});

describe('npm start without BOT_TOKEN: the bot is disabled, everything else runs', () => {
  let emulator: BotApiEmulator | undefined;
  let server: SpawnedServer | undefined;
  let dataDir: string | undefined;

  beforeAll(async () => {
    emulator = await startBotApiEmulator();
    dataDir = newDataDir();
    server = await spawnServer({ TELEGRAM_API_ROOT: emulator.apiRoot, DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await server?.stop();
    await emulator?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  beforeEach(() => {
    onTestFailed(() => {
      console.error(`server logs:\n${server?.logs() ?? '(no server)'}`);
    });
  });

  it('logs once that the bot is disabled because BOT_TOKEN is unset, serves /healthz and never calls Telegram', async () => {
    if (!server || !emulator) throw new Error('not started (see beforeAll)');
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    await waitForLog(server, DISABLED_LINE);
    expect(linesMatching(server, DISABLED_LINE)).toHaveLength(1);
    expect(linesMatching(server, POLLING_LINE)).toHaveLength(0);
    expect(emulator.calls).toEqual([]);

    expect(await server.stop()).toBe(0);
    expect(linesMatching(server, 'Stopped cleanly')).toHaveLength(1);
    // Still exactly once: nothing repeated it while running or stopping.
    expect(linesMatching(server, DISABLED_LINE)).toHaveLength(1);
  });
});
