/**
 * One side of the webhook benchmark, in a process of its own (like test/bench/layer-server.ts).
 * `node --import tsx test/bench/webhook-server.ts <variant>`:
 * - `webhook`: the real app in webhook mode with the real bot (createBot with every feature, as server/start.ts
 *   wires it): secret header check, intake with the Redis update_id claim, decision guard, per-person rate
 *   limit (production's anti-spam settings, with a limit the bench never reaches), conversations,
 *   consent gate, routing, and the reply through the Bot API client, whose fetch is the recording fake
 *   (Telegram is unreachable), answering in-process;
 * - `bare-webhook`: bare Fastify with a POST route on the same path that parses the JSON and answers 200.
 * Prints one JSON line `{ url, secret, users }` once listening (`users`: Telegram ids of people who signed in
 * and saved their consent choices). Each line `stats` on stdin is answered with one JSON line of counters:
 * answers by status, requests still in flight, answers carrying a webhook reply, and the Bot API calls made
 * (sendMessage and others).
 * Exits when stdin closes.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import Fastify from 'fastify';
import { createConversationStateStore } from '#bot/conversations/state-store.ts';
import { upsertTelegramUser } from '#shared/identity/users.ts';
import { CONSENT_PURPOSES } from '#shared/privacy/index.ts';
import { buildTestApp } from '../helpers/build-test-app.ts';
import { createTestBot, TEST_BOT_TOKEN } from '../helpers/create-test-bot.ts';

const variant = process.argv[2];
if (variant !== 'webhook' && variant !== 'bare-webhook')
  throw new Error('usage: webhook-server.ts webhook|bare-webhook');

/** Distinct senders: the bot serialises one chat's updates, so load from one chat alone would be one at a time. */
const USERS = Number(process.argv[3] ?? 50);
const SEED_BATCH = 20;
const FIRST_TELEGRAM_ID = 710_000_001;
// Limits far above what the bench sends (the webhook route is exempt anyway; the bot's per-person limit counts
// every private update but never refuses one: each sender sends a few hundred updates in a run).
const env = {
  BOT_TOKEN: TEST_BOT_TOKEN,
  RATE_LIMITS: 'auth=1000/60,api=1000000/60,global=1000000/60',
  ANTISPAM_RATE_LIMIT: '9999/60',
};

/**
 * Answers on the webhook path by status, requests not yet answered, and answers that carried the bot's reply
 * (grammY's webhook reply: a `sendMessage` in the response body), counted at the HTTP server.
 */
const answers = { ok: 0, notOk: 0, inFlight: 0, webhookReplies: 0 };
function countAnswers(server: Server) {
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== 'POST' || request.url !== '/telegram/webhook') return;
    answers.inFlight += 1;
    const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
    response.end = ((...args: unknown[]) => {
      const [chunk] = args;
      if ((typeof chunk === 'string' || Buffer.isBuffer(chunk)) && String(chunk).includes('"method":"sendMessage"'))
        answers.webhookReplies += 1;
      return end(...args);
    }) as ServerResponse['end'];
    let done = false;
    const settle = () => {
      if (done) return;
      done = true;
      answers.inFlight -= 1;
      if (response.writableFinished && response.statusCode === 200) answers.ok += 1;
      else answers.notOk += 1;
    };
    response.once('finish', settle);
    response.once('close', settle);
  });
}

let url: string;
let secret = '';
const users: number[] = [];
let botCalls: () => { sendMessage: number; otherCalls: number } = () => ({ sendMessage: 0, otherCalls: 0 });
let close: () => Promise<void>;

if (variant === 'webhook') {
  // The services the bot uses come from one app; the app serving the webhook shares its database, secrets and
  // Redis prefix (as two instances of one deployment would).
  const base = await buildTestApp({ env });
  const seeding = Date.now();
  const seed = async (id: number) => {
    // As the bot's /start registers a person, then their saved choices in the consent step.
    const { user } = await upsertTelegramUser(base.database.db, { telegramId: id, adminTelegramIds: [] });
    await base.services.privacy.recordConsent(
      { userId: user.id, source: 'bot' },
      CONSENT_PURPOSES.map((purposeId) => ({ purposeId, granted: true })),
      'bot',
    );
    if (!(await base.services.privacy.hasCurrentConsentDecisions(user.id))) {
      throw new Error('seeding consent failed');
    }
  };
  const ids = Array.from({ length: USERS }, (_, index) => FIRST_TELEGRAM_ID + index);
  for (let index = 0; index < ids.length; index += SEED_BATCH) {
    await Promise.all(ids.slice(index, index + SEED_BATCH).map(seed));
  }
  users.push(...ids);
  process.stderr.write(`seeded ${USERS} in ${Date.now() - seeding} ms\n`);
  const services = base.services;
  // As server/start.ts builds it: who has no conversation is remembered per process.
  const conversationState = createConversationStateStore({
    redis: base.redis.client,
    redisPrefix: base.redisPrefix,
    cache: { createSubscriber: () => base.redis.createBullConnection() },
  });
  const telegram = createTestBot({
    conversationState,
    db: base.database.db,
    apiKeys: services.apiKeys,
    sessions: services.sessions,
    audit: services.audit,
    redis: base.redis.client,
    redisPrefix: base.redisPrefix,
    maxUpdateAgeSeconds: base.config.bot.maxUpdateAgeSeconds,
    mfa: services.mfa,
    defense: {
      service: services.defense,
      redis: base.redis.client,
      redisPrefix: base.redisPrefix,
      metrics: services.metrics,
    },
    scanner: services.scanner,
    privacy: services.privacy,
    // Anti-spam as production runs it (server/start.ts): the per-person limit in private chats, group rules.
    antispam: base.config.antispam,
    // Production's outgoing calls: auto-retry and the throttler at Telegram's limits (the /help answers travel
    // in the webhook responses, which make no request of their own).
    outgoing: {},
  });
  // The recording fetch keeps every call: count them and let them go, so the record does not grow under load.
  const counted = { sendMessage: 0, otherCalls: 0 };
  botCalls = () => {
    for (const call of telegram.calls) {
      if (call.method === 'sendMessage') counted.sendMessage += 1;
      else counted.otherCalls += 1;
    }
    telegram.calls.length = 0;
    return { ...counted };
  };
  const drain = setInterval(botCalls, 500);
  const t = await buildTestApp({
    env: { ...env, BOT_MODE: 'webhook', PUBLIC_URL: 'https://sec.example.com' },
    database: base.database,
    secrets: base.secrets,
    redisPrefix: base.redisPrefix,
    bot: telegram.bot,
  });
  secret = t.secrets.webhookSecret;
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  countAnswers(t.app.server);
  close = async () => {
    clearInterval(drain);
    await conversationState.close();
    await t.close();
    await base.close();
  };
} else {
  const bare = Fastify();
  bare.post('/telegram/webhook', async (request, reply) => {
    if (typeof (request.body as { update_id?: unknown } | null)?.update_id !== 'number')
      return reply.status(400).send();
    return reply.status(200).send();
  });
  url = await bare.listen({ port: 0, host: '127.0.0.1' });
  countAnswers(bare.server);
  close = () => bare.close();
}

// Start-up (migrations, seeding) leaves a large heap of garbage that V8 collects at some point under load,
// which made the first rounds of either side slower than the rest: both sides start measured from a collected heap.
(globalThis as { gc?: () => void }).gc?.();
process.stdout.write(`${JSON.stringify({ url, secret, users })}\n`);
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(`${JSON.stringify({ ...answers, ...botCalls() })}\n`);
});
commands.on('close', () => {
  void close().finally(() => process.exit(0));
});
