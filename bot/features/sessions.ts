/**
 * /sessions (and the "Review sessions" button of the refresh-reuse notice): the person's signed-in sessions
 * with a button to end each one and one to end them all. Every button names a session by id and is checked
 * against the tapping person's own sessions: another person's id answers "gone", exactly like an ended one.
 * Ending follows the API's rule (the `sessions:write` permission) and is audited like it. End buttons carry a
 * single-use nonce bound to the person and the session (bot/callbacks.ts): a replayed tap does nothing.
 */
import { Composer, GrammyError, InlineKeyboard } from 'grammy';
import type { AuditLog } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { User } from '#shared/db/schema.ts';
import { roleHas } from '#shared/identity/rbac.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import type { SessionRecord, SessionStore } from '#shared/tokens/sessions.ts';
import { arg, button, type Callbacks, createCallbacks } from '../callbacks.ts';
import type { Context } from '../context.ts';

export interface SessionsFeatureDeps {
  db: Db;
  sessions: SessionStore;
  /** Where endings are recorded (source `bot`), as the API records its own. */
  audit?: Pick<AuditLog, 'record'> | undefined;
  /** Callback data checks and nonces (one per bot); a private one in memory when absent. */
  callbacks?: Callbacks | undefined;
}

/** `sessions`: the notice's "Review sessions" button. */
export const SESSIONS_BUTTON = button('sessions', []);
/** `sess:end:<session id>:<nonce>` (session ids are 36 hex characters: 58 bytes of Telegram's 64). */
export const END_ONE_BUTTON = button('sess:end', [arg.text(/[A-Za-z0-9_-]{1,40}/)], { nonce: true });
/** `sess:end-all:<nonce>`. */
export const END_ALL_BUTTON = button('sess:end-all', [], { nonce: true });
/** Sessions listed (most recently active first): keeps the message well under Telegram's 4096 characters. */
export const SESSIONS_SHOWN = 10;
const END_BUTTONS_PER_ROW = 3;

/** "now", "5 min. ago", "3 hr. ago", "yesterday" in the person's language. */
function timeAgo(locale: string, atMs: number, nowMs: number): string {
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto', style: 'short' });
  const seconds = Math.max(0, Math.round((nowMs - atMs) / 1000));
  if (seconds < 60) return format.format(0, 'second');
  if (seconds < 3600) return format.format(-Math.floor(seconds / 60), 'minute');
  if (seconds < 86_400) return format.format(-Math.floor(seconds / 3600), 'hour');
  return format.format(-Math.floor(seconds / 86_400), 'day');
}

export function sessionsFeature(deps: SessionsFeatureDeps) {
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');
  const callbacks = deps.callbacks ?? createCallbacks({ db: deps.db, audit: deps.audit });

  const personOf = (ctx: Context): Promise<User | null> =>
    ctx.from ? findUserByTelegramId(deps.db, ctx.from.id) : Promise.resolve(null);

  /** The list as text and buttons (end buttons only for people allowed to end sessions). */
  async function render(ctx: Context, person: User | null, list: readonly SessionRecord[]) {
    if (!person || list.length === 0) return { text: ctx.t('sessions.none'), keyboard: undefined };
    const now = Date.now();
    const shown = list.slice(0, SESSIONS_SHOWN);
    const lines = shown.map((session, index) =>
      ctx.t('sessions.item', {
        index: index + 1,
        client: session.client || '?',
        created: timeAgo(ctx.locale, session.createdAt, now),
        seen: timeAgo(ctx.locale, session.lastSeenAt, now),
        ip: session.ip ? ` (${session.ip})` : '',
      }),
    );
    const text = [ctx.t('sessions.header', { count: list.length }), ...lines].join('\n');
    if (!roleHas(person.role, 'sessions:write')) return { text, keyboard: undefined };
    const telegramId = ctx.from?.id;
    if (telegramId === undefined) return { text, keyboard: undefined };
    const keyboard = new InlineKeyboard();
    for (const [index, session] of shown.entries()) {
      keyboard.text(
        ctx.t('sessions.end_one', { index: index + 1 }),
        await callbacks.issueData(END_ONE_BUTTON, [session.id], telegramId),
      );
      if ((index + 1) % END_BUTTONS_PER_ROW === 0) keyboard.row();
    }
    keyboard.row().text(ctx.t('sessions.end_all'), await callbacks.issueData(END_ALL_BUTTON, [], telegramId));
    return { text, keyboard };
  }

  async function listFor(person: User | null): Promise<SessionRecord[]> {
    return person ? deps.sessions.list(person.id) : [];
  }

  async function sendList(ctx: Context, person: User | null) {
    const { text, keyboard } = await render(ctx, person, await listFor(person));
    await ctx.reply(text, keyboard ? { reply_markup: keyboard } : {});
  }

  /** Replaces the tapped message with the current list (without buttons, Telegram drops the old ones). */
  async function refreshList(ctx: Context, person: User | null) {
    const { text, keyboard } = await render(ctx, person, await listFor(person));
    try {
      await ctx.editMessageText(text, keyboard ? { reply_markup: keyboard } : {});
    } catch (error) {
      // Nothing changed since the list was shown: Telegram refuses an identical edit, which is fine.
      if (!(error instanceof GrammyError && /message is not modified/i.test(error.description))) throw error;
    }
  }

  /** The tapping person when they may end sessions (the API's `sessions:write`); otherwise the tap is answered. */
  async function enderOf(ctx: Context): Promise<User | null> {
    const person = await personOf(ctx);
    if (person && roleHas(person.role, 'sessions:write')) return person;
    await ctx.answerCallbackQuery({
      text: person ? ctx.t('sessions.not_allowed') : ctx.t('sessions.none'),
      show_alert: true,
    });
    return null;
  }

  const record = (person: User, action: string, target: string, count?: number) =>
    deps.audit?.record({
      actor: { type: 'user', id: person.id },
      subjectUserId: person.id,
      action,
      target: { type: 'session', id: target },
      result: 'success',
      reasonCode: count === undefined ? undefined : `COUNT_${count}`,
      source: 'bot',
    });

  feature.command('sessions', async (ctx) => {
    await sendList(ctx, await personOf(ctx));
  });

  callbacks.handle(feature, SESSIONS_BUTTON, async (ctx) => {
    await ctx.answerCallbackQuery();
    // The notice stays as it is; the list comes as a message of its own.
    await sendList(ctx, await personOf(ctx));
  });

  callbacks.handle(feature, END_ONE_BUTTON, async (ctx, [sessionId]) => {
    const person = await enderOf(ctx);
    if (!person) return;
    const session = await deps.sessions.get(sessionId);
    // Someone else's session answers exactly like an ended one: ids cannot be probed from the bot either.
    if (!session || session.userId !== person.id || !(await deps.sessions.revoke(session.id))) {
      await ctx.answerCallbackQuery({ text: ctx.t('sessions.gone') });
      await refreshList(ctx, person);
      return;
    }
    await record(person, 'session.revoke', session.id);
    await ctx.answerCallbackQuery({ text: ctx.t('sessions.ended_one') });
    await refreshList(ctx, person);
  });

  callbacks.handle(feature, END_ALL_BUTTON, async (ctx) => {
    const person = await enderOf(ctx);
    if (!person) return;
    const count = await deps.sessions.revokeAll(person.id);
    await record(person, 'session.revoke_all', 'all', count);
    await ctx.answerCallbackQuery({ text: ctx.t('sessions.ended_all', { count }) });
    await refreshList(ctx, person);
  });

  return composer;
}
