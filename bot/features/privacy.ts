/**
 * /privacy: the person's choices per purpose (consent given or withdrawn with one tap, objections, restriction)
 * with a signed consent receipt for every consent decision, and the privacy policy in the chat. Admins also get
 * /dsr: the data request queue with deadlines and buttons to extend one (with a reason the person is told).
 * Also renders the privacy notices the notify worker sends. The toggles and the extension button carry a
 * single-use nonce bound to the person and the exact choice (bot/callbacks.ts).
 */
import { Composer, InlineKeyboard, InputFile } from 'grammy';
import type { Db } from '#shared/db/index.ts';
import type { PrivacyRequestRow } from '#shared/db/schema-privacy.ts';
import { roleHas } from '#shared/identity/rbac.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import type { ConsentResult, PrivacyNotice, PrivacyService, PurposeView } from '#shared/privacy/index.ts';
import { deadlineOf, getPrivacySettings, NEAR_DUE_DAYS } from '#shared/privacy/index.ts';
import { arg, button, type Callbacks, createCallbacks } from '../callbacks.ts';
import type { Context } from '../context.ts';
import type { Translate } from '../i18n/index.ts';

export interface PrivacyFeatureDeps {
  db: Db;
  privacy: PrivacyService;
  publicUrl: string | undefined;
  /** Callback data checks and nonces (one per bot); a private one in memory when absent. */
  callbacks?: Callbacks | undefined;
}

export const POLICY_CALLBACK = 'pv:policy';
const PURPOSE_ID = /[a-z][a-z0-9_]{0,31}/;
/**
 * `pv:c:<purpose>:<0|1>:<nonce>` consent, `pv:o:<purpose>:<0|1>:<nonce>` objection, `pv:r:<0|1>:<nonce>`
 * restriction; `dsr:x:<request id>:<months>:<nonce>` starts an extension (the reason follows as a reply).
 */
export const PRIVACY_BUTTONS = {
  policy: button(POLICY_CALLBACK, []),
  consent: button('pv:c', [arg.text(PURPOSE_ID), arg.oneOf(['0', '1'])], { nonce: true }),
  objection: button('pv:o', [arg.text(PURPOSE_ID), arg.oneOf(['0', '1'])], { nonce: true }),
  restriction: button('pv:r', [arg.oneOf(['0', '1'])], { nonce: true }),
  extend: button('dsr:x', [arg.uuid(), arg.oneOf(['1', '2'])], { nonce: true }),
};
const B = PRIVACY_BUTTONS;
const REASON_PROMPT = /request ([0-9a-f-]{36}) by ([12]) month/;
const DSR_SHOWN = 15;

function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function dateOf(value: string | Date, locale: string): string {
  return new Date(value).toLocaleDateString(locale, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    timeZone: 'UTC',
  });
}

/** Text and buttons of a privacy notice, in the person's language (used by the notify worker). */
export function renderPrivacyNotice(
  t: Translate,
  notice: PrivacyNotice,
  extra: { reason?: string; locale?: string } = {},
) {
  const locale = extra.locale ?? 'en';
  switch (notice.kind) {
    case 'privacy-request-extended':
      return {
        text: t('notify.privacy_extended', { until: dateOf(notice.until, locale), reason: extra.reason ?? '' }),
        keyboard: undefined,
      };
    case 'privacy-erasure-scheduled':
      return {
        text: t('notify.privacy_erasure_scheduled', { date: dateOf(notice.effectiveAt, locale) }),
        keyboard: new InlineKeyboard().text(t('mydata.erase_cancel'), `md:cancel:${notice.requestId}`),
      };
    case 'privacy-erasure-cancelled':
      return { text: t('notify.privacy_erasure_cancelled'), keyboard: undefined };
    case 'security-tip':
      return { text: t(notice.tip % 2 === 0 ? 'notify.security_tip_2' : 'notify.security_tip_1'), keyboard: undefined };
  }
}

/** Sends the signed consent receipt as a document (a JWS anyone can check against /.well-known/jwks.json). */
export async function sendReceipt(ctx: Context, result: ConsentResult): Promise<void> {
  const purposes = result.receipt.services[0]?.purposes.length ?? 0;
  await ctx.replyWithDocument(
    new InputFile(Buffer.from(result.jws, 'utf8'), `consent-receipt-${result.receiptId}.jws`),
    {
      caption: ctx.t('consent.receipt_caption', { count: purposes }),
    },
  );
}

/** The /privacy text and keyboard for the person's current choices (toggles bound to `ctx.from`). */
export async function renderPrivacy(
  ctx: Context,
  purposes: readonly PurposeView[],
  restricted: boolean,
  version: string,
  policyUrl: string | undefined,
  callbacks: Callbacks,
) {
  const telegramId = ctx.from?.id ?? 0;
  const lines = [ctx.t('privacy.title'), ''];
  const keyboard = new InlineKeyboard();
  for (const purpose of purposes) {
    const basis = purpose.required
      ? ctx.t('privacy.basis_required')
      : purpose.legalBasis === 'consent'
        ? ctx.t('privacy.basis_consent')
        : ctx.t('privacy.basis_objectable');
    lines.push(
      ctx.t('privacy.purpose_line', { mark: purpose.granted ? '✅' : '⬜', title: escapeHtml(purpose.title), basis }),
    );
    if (purpose.required) continue;
    if (purpose.legalBasis === 'consent') {
      keyboard
        .text(
          ctx.t(purpose.granted ? 'privacy.withdraw' : 'privacy.grant', { title: purpose.title }),
          await callbacks.issueData(B.consent, [purpose.id, purpose.granted ? '0' : '1'], telegramId),
        )
        .row();
    } else {
      keyboard
        .text(
          ctx.t(purpose.objected ? 'privacy.unobject' : 'privacy.object', { title: purpose.title }),
          await callbacks.issueData(B.objection, [purpose.id, purpose.objected ? '0' : '1'], telegramId),
        )
        .row();
    }
  }
  if (restricted) lines.push('', ctx.t('privacy.restricted_line'));
  lines.push(
    '',
    policyUrl ? ctx.t('privacy.policy_line', { version, url: policyUrl }) : ctx.t('privacy.policy_inline', { version }),
  );
  keyboard
    .text(
      ctx.t(restricted ? 'privacy.unrestrict' : 'privacy.restrict'),
      await callbacks.issueData(B.restriction, [restricted ? '0' : '1'], telegramId),
    )
    .row();
  keyboard.text(ctx.t('privacy.read_policy'), POLICY_CALLBACK).text(ctx.t('privacy.my_data'), 'md:menu');
  return { text: lines.join('\n'), keyboard };
}

/** The policy as chat text (the HTML page has the full tables). */
export function policyText(ctx: Context, privacy: PrivacyService, publicUrl: string | undefined): string {
  const policy = privacy.policy();
  const { controller } = policy;
  return ctx.t('privacy.policy_text', {
    version: policy.version,
    controller: escapeHtml(controller.name),
    jurisdiction: escapeHtml(controller.jurisdiction),
    contact: escapeHtml(controller.contact),
    dpo: controller.dpo ? `, DPO: ${escapeHtml(controller.dpo)}` : '',
    purposes: policy.purposes
      .map(
        (p) => `• <b>${escapeHtml(p.title)}</b>: ${escapeHtml(p.description)} <i>(${escapeHtml(p.legalBasisText)})</i>`,
      )
      .join('\n'),
    rights: policy.rights.map((right) => `• ${escapeHtml(right)}`).join('\n'),
    link: publicUrl ? `\n\n${publicUrl}/privacy` : '',
  });
}

function queueLine(ctx: Context, row: PrivacyRequestRow, index: number): string {
  const deadline = deadlineOf(row);
  const now = Date.now();
  const flag =
    deadline.getTime() < now
      ? ctx.t('dsr.overdue_flag')
      : deadline.getTime() - now < NEAR_DUE_DAYS * 86_400_000
        ? ctx.t('dsr.near_flag')
        : '';
  return ctx.t('dsr.queue_line', {
    n: index + 1,
    kind: ctx.t(`mydata.kind_${row.kind}`),
    status: ctx.t(`mydata.status_${row.status}`),
    due: dateOf(row.dueAt, ctx.locale),
    extended: row.extendedUntil ? ctx.t('mydata.extended', { until: dateOf(row.extendedUntil, ctx.locale) }) : '',
    flag,
  });
}

export function privacyFeature(deps: PrivacyFeatureDeps) {
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');
  const callbacks = deps.callbacks ?? createCallbacks({ db: deps.db });
  const policyUrl = deps.publicUrl ? `${deps.publicUrl}/privacy` : undefined;

  const personOf = (ctx: Context) => (ctx.from ? findUserByTelegramId(deps.db, ctx.from.id) : Promise.resolve(null));

  async function view(ctx: Context, userId: string) {
    const purposes = await deps.privacy.purposes(userId);
    const { restricted } = await restrictionOf(userId);
    return renderPrivacy(ctx, purposes, restricted, deps.privacy.policy().version, policyUrl, callbacks);
  }
  const restrictionOf = (userId: string) => getPrivacySettings(deps.db, userId);

  feature.command('privacy', async (ctx) => {
    const person = await personOf(ctx);
    if (!person) {
      await ctx.reply(policyText(ctx, deps.privacy, deps.publicUrl), { parse_mode: 'HTML' });
      return;
    }
    const { text, keyboard } = await view(ctx, person.id);
    await ctx.reply(text, { parse_mode: 'HTML', reply_markup: keyboard, link_preview_options: { is_disabled: true } });
  });

  callbacks.handle(feature, B.policy, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.reply(policyText(ctx, deps.privacy, deps.publicUrl), {
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
    });
  });

  const refresh = async (ctx: Context, userId: string) => {
    const { text, keyboard } = await view(ctx, userId);
    await ctx.editMessageText(text, {
      parse_mode: 'HTML',
      reply_markup: keyboard,
      link_preview_options: { is_disabled: true },
    });
  };

  type Choice =
    | { kind: 'consent'; purposeId: string; on: boolean }
    | { kind: 'objection'; purposeId: string; on: boolean }
    | { kind: 'restriction'; on: boolean };
  const choose = async (ctx: Context, choice: Choice) => {
    const person = await personOf(ctx);
    if (!person || person.status === 'deleted') {
      await ctx.answerCallbackQuery({ text: ctx.t('privacy.no_account') });
      return;
    }
    const who = { userId: person.id, source: 'bot' as const };
    let receipt: ConsentResult | undefined;
    if (choice.kind === 'consent') {
      // Withdrawing is exactly as easy as giving: one tap, and a receipt either way (Art. 7(3)).
      receipt = await deps.privacy.recordConsent(who, [{ purposeId: choice.purposeId, granted: choice.on }], 'bot');
    } else if (choice.kind === 'objection') {
      await deps.privacy.setObjection(who, choice.purposeId, choice.on);
    } else {
      await deps.privacy.setRestriction(who, choice.on);
    }
    await ctx.answerCallbackQuery({ text: ctx.t('privacy.updated') });
    await refresh(ctx, person.id);
    if (receipt) await sendReceipt(ctx, receipt);
  };
  callbacks.handle(feature, B.consent, (ctx, [purposeId, on]) =>
    choose(ctx, { kind: 'consent', purposeId, on: on === '1' }),
  );
  callbacks.handle(feature, B.objection, (ctx, [purposeId, on]) =>
    choose(ctx, { kind: 'objection', purposeId, on: on === '1' }),
  );
  callbacks.handle(feature, B.restriction, (ctx, [on]) => choose(ctx, { kind: 'restriction', on: on === '1' }));

  // --- Admins: the data request queue ---
  const isAdmin = async (ctx: Context) => {
    const person = await personOf(ctx);
    return person !== null && person.status === 'active' && roleHas(person.role, 'admin:users:write');
  };

  feature.command('dsr', async (ctx, next) => {
    // Answered like an unknown command: no hint that admin commands exist.
    if (!(await isAdmin(ctx))) return next();
    const queue = await deps.privacy.queue();
    if (queue.length === 0) {
      await ctx.reply(ctx.t('dsr.queue_empty'));
      return;
    }
    const shown = queue.slice(0, DSR_SHOWN);
    const keyboard = new InlineKeyboard();
    for (const [index, row] of shown.entries()) {
      if (row.extendedUntil === null)
        keyboard.text(
          ctx.t('dsr.extend_button', { months: 1, n: index + 1 }),
          await callbacks.issueData(B.extend, [row.id, '1'], ctx.from.id),
        );
      keyboard
        .text(
          ctx.t('dsr.extend_button', { months: 2, n: index + 1 }),
          await callbacks.issueData(B.extend, [row.id, '2'], ctx.from.id),
        )
        .row();
    }
    await ctx.reply(
      [ctx.t('dsr.queue_title', { count: queue.length }), ...shown.map((row, i) => queueLine(ctx, row, i))].join('\n'),
      {
        parse_mode: 'HTML',
        reply_markup: keyboard,
      },
    );
  });

  callbacks.handle(feature, B.extend, async (ctx, [id, months]) => {
    await ctx.answerCallbackQuery();
    if (!(await isAdmin(ctx))) return;
    // The reason comes as a reply to this prompt (force_reply): stateless, and it names the request.
    await ctx.reply(ctx.t('dsr.extend_reason', { n: id ?? '', months: months ?? '' }), {
      reply_markup: { force_reply: true, input_field_placeholder: 'Reason' },
    });
  });

  feature.on('message:text').filter(
    (ctx) =>
      REASON_PROMPT.test(ctx.message.reply_to_message?.text ?? '') &&
      ctx.message.reply_to_message?.from?.id === ctx.me.id,
    async (ctx) => {
      if (!(await isAdmin(ctx))) return;
      const person = await personOf(ctx);
      const [, id, months] = REASON_PROMPT.exec(ctx.message.reply_to_message?.text ?? '') ?? [];
      const reason = ctx.message.text.trim();
      if (!person || !id || !months) return;
      if (reason.length < 10 || reason.length > 500) {
        await ctx.reply(ctx.t('dsr.extend_reason', { n: id, months }), { reply_markup: { force_reply: true } });
        return;
      }
      const row = await deps.privacy.extend({ userId: person.id, source: 'bot' }, id, Number(months), reason);
      await ctx.reply(ctx.t('dsr.extended', { until: dateOf(deadlineOf(row), ctx.locale) }));
    },
  );

  return composer;
}
