/**
 * Intrusion-detection decisions in the bot: `/decisions` lists the active ones to admins with buttons to lift
 * or extend each; admin alerts carry the same buttons. Every button is bound to the admin it was sent to
 * and carries a single-use nonce (a replayed, forwarded or double tap does nothing). The person a decision is
 * about can ask for a human review (GDPR Art. 22(3)), even while the decision blocks everything else.
 */
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { Composer, InlineKeyboard } from 'grammy';
import type { Redis } from 'ioredis';
import type { Db } from '#shared/db/index.ts';
import { defenseDecisions } from '#shared/db/schema-defense.ts';
import { ACTION_NONCE_TTL_SECONDS, type Defense, EXTEND_STEP_SECONDS } from '#shared/defense/index.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { arg, button, type Callbacks, createCallbacks } from '../callbacks.ts';
import type { Context } from '../context.ts';
import type { Translate } from '../i18n/index.ts';

export interface DecisionsFeatureDeps {
  db: Db;
  defense: Defense;
  redis: Redis;
  redisPrefix: string;
  /** Callback data checks and refusals (one per bot); a private one when absent. */
  callbacks?: Callbacks | undefined;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `dd:l|x:<decision id>:<nonce>` (lift, extend): 5 + 36 + 1 + 16 = 58 bytes, within Telegram's 64. */
export const ACTION_CALLBACK = new RegExp(`^dd:([lx]):(${UUID}):([A-Za-z0-9_-]{16})$`);
/** `dd:r:<decision id>`: the subject asks for a review. */
export const REVIEW_CALLBACK = new RegExp(`^dd:r:(${UUID})$`);
/** The same buttons, declared for bot/callbacks.ts (the nonce is the defense service's, taken in the handler). */
export const DECISION_BUTTONS = {
  lift: button('dd:l', [arg.uuid(), arg.text(/[A-Za-z0-9_-]{16}/)]),
  extend: button('dd:x', [arg.uuid(), arg.text(/[A-Za-z0-9_-]{16}/)]),
  review: button('dd:r', [arg.uuid()]),
};
/** Most decisions listed at once. */
const LIST_LIMIT = 10;

function minute(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The text and buttons of a defense notice (used by the notify worker). Null when the decision is gone. */
export async function renderDefenseNotice(
  db: Db,
  t: Translate,
  data:
    | { kind: 'defense-decision'; decisionId: string; nonce: string }
    | { kind: 'defense-alert'; scenario: string; subjectUserId: string | null }
    | { kind: 'defense-target'; decisionId: string },
): Promise<{ text: string; keyboard?: InlineKeyboard } | null> {
  if (data.kind === 'defense-alert') {
    const subject = data.subjectUserId
      ? t('notify.defense_alert_subject', { user: data.subjectUserId.slice(0, 8) })
      : '';
    return { text: t('notify.defense_alert', { scenario: data.scenario, subject }) };
  }
  const [row] = await db.select().from(defenseDecisions).where(eq(defenseDecisions.id, data.decisionId)).limit(1);
  if (!row) return null;
  const params = {
    scenario: row.scenario,
    kind: row.kind,
    target: row.targetLabel,
    until: minute(row.expiresAt),
    automated: row.automated ? t('defense.automated_mark') : '',
  };
  if (data.kind === 'defense-target') {
    return {
      text: t('notify.defense_target', params),
      ...(row.automated ? { keyboard: new InlineKeyboard().text(t('defense.review_button'), `dd:r:${row.id}`) } : {}),
    };
  }
  const text = row.reviewRequestedAt ? t('notify.defense_review', params) : t('notify.defense_decision', params);
  return {
    text,
    keyboard: new InlineKeyboard()
      .text(t('defense.lift_one'), `dd:l:${row.id}:${data.nonce}`)
      .text(t('defense.extend_one'), `dd:x:${row.id}:${data.nonce}`),
  };
}

export function decisionsFeature(deps: DecisionsFeatureDeps) {
  const { defense } = deps;
  const composer = new Composer<Context>();
  const callbacks =
    deps.callbacks ?? createCallbacks({ db: deps.db, redis: deps.redis, redisPrefix: deps.redisPrefix });

  /** The tapping person, if they are an active admin. */
  async function adminOf(ctx: Context) {
    const telegramId = ctx.from?.id;
    const user = telegramId === undefined ? null : await findUserByTelegramId(deps.db, telegramId);
    return user && user.role === 'admin' && user.status === 'active' ? user : null;
  }

  const newNonce = async (decisionId: string, adminUserId: string) => {
    const nonce = randomBytes(12).toString('base64url');
    await deps.redis.set(
      `${deps.redisPrefix}:defense:nonce:${nonce}`,
      JSON.stringify({ decisionId, adminUserId }),
      'EX',
      ACTION_NONCE_TTL_SECONDS,
    );
    return nonce;
  };

  composer.chatType('private').command('decisions', async (ctx, next) => {
    const admin = await adminOf(ctx);
    if (!admin) return next(); // answered like an unknown command: no hint that admin commands exist
    const decisions = await defense.decisions.listActive(LIST_LIMIT);
    if (decisions.length === 0) return ctx.reply(ctx.t('defense.none'));
    const keyboard = new InlineKeyboard();
    const lines: string[] = [];
    for (const [index, decision] of decisions.entries()) {
      const n = index + 1;
      lines.push(
        ctx.t('defense.list_item', {
          n,
          scenario: decision.scenario,
          kind: decision.kind,
          target: decision.target,
          until: minute(decision.expiresAt),
          automated: decision.automated ? ctx.t('defense.automated_mark') : '',
        }),
      );
      // One nonce per row: lifting one decision cannot be replayed, and cannot be reused for another.
      const nonce = await newNonce(decision.id, admin.id);
      keyboard
        .text(ctx.t('defense.lift_button', { n }), `dd:l:${decision.id}:${nonce}`)
        .text(ctx.t('defense.extend_button', { n }), `dd:x:${decision.id}:${nonce}`)
        .row();
    }
    return ctx.reply([ctx.t('defense.list_header', { count: decisions.length }), ...lines].join('\n'), {
      reply_markup: keyboard,
    });
  });

  const act = async (ctx: Context, action: 'l' | 'x', decisionId: string, nonce: string) => {
    const admin = await adminOf(ctx);
    // Consumed before anything else: whatever happens next, this button cannot be used again.
    const pending = await defense.takeNonce(nonce);
    if (!admin || !pending || pending.decisionId !== decisionId || pending.adminUserId !== admin.id) {
      // A security event too: another person's button, a replayed or a made-up nonce.
      await callbacks.reject(
        ctx,
        pending && (!admin || pending.adminUserId !== admin.id) ? 'WRONG_USER' : 'NONCE_INVALID',
        { text: ctx.t('defense.action_expired'), show_alert: true },
      );
      return;
    }
    const context = { actorUserId: admin.id, source: 'bot' as const };
    if (action === 'l') {
      const lifted = await defense.lift(decisionId, context);
      await ctx.answerCallbackQuery({ text: ctx.t(lifted ? 'defense.lifted' : 'defense.gone') });
      if (lifted) await ctx.editMessageReplyMarkup({ reply_markup: { inline_keyboard: [] } }).catch(() => {});
      return;
    }
    const extended = await defense.extend(decisionId, EXTEND_STEP_SECONDS, context);
    await ctx.answerCallbackQuery({
      text: extended ? ctx.t('defense.extended', { until: minute(extended.expiresAt) }) : ctx.t('defense.gone'),
    });
  };
  callbacks.handle(composer, DECISION_BUTTONS.lift, (ctx, [decisionId, nonce]) => act(ctx, 'l', decisionId, nonce));
  callbacks.handle(composer, DECISION_BUTTONS.extend, (ctx, [decisionId, nonce]) => act(ctx, 'x', decisionId, nonce));

  callbacks.handle(composer, DECISION_BUTTONS.review, async (ctx, [decisionId]) => {
    const telegramId = ctx.from.id;
    const user = await findUserByTelegramId(deps.db, telegramId);
    const decision = user ? await defense.requestReview(decisionId, { actorUserId: user.id, source: 'bot' }) : null;
    await ctx.answerCallbackQuery({
      text: ctx.t(decision ? 'defense.review_requested' : 'defense.review_unavailable'),
      show_alert: true,
    });
  });

  return composer;
}
