/**
 * The consent step on first contact (GDPR Art. 7): one message with a toggle per optional purpose, none
 * pre-ticked, a link to the policy and a Save button; the choices live in the buttons' data until saved, so
 * nothing about the person is stored before they decide. Until every consent purpose has a decision at its
 * current version, only /start, /help and /privacy work (the gate); a purpose whose text changed asks again.
 * After the gate, command use is counted for usage statistics, only with consent (shared/privacy/analytics).
 */
import { Composer, InlineKeyboard } from 'grammy';
import type { Db } from '#shared/db/index.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import {
  CONSENT_PURPOSES,
  countUsage,
  type PrivacyService,
  PURPOSES,
  type PurposeSpec,
} from '#shared/privacy/index.ts';
import { commandSpec, commandsWithPermission } from '../commands.ts';
import type { Context } from '../context.ts';
import { POLICY_CALLBACK, sendReceipt } from './privacy.ts';

export interface ConsentFeatureDeps {
  db: Db;
  privacy: PrivacyService;
  publicUrl: string | undefined;
}

/** Commands that work before the consent step is done: permission `anyone` in the registry (bot/commands.ts). */
export const COMMANDS_BEFORE_CONSENT: readonly string[] = commandsWithPermission('anyone');
/** `cs:t:<mask>` shows the choices after a toggle; `cs:s:<mask>` saves them. Bit i is CONSENT_PURPOSES[i]. */
const TOGGLE = /^cs:t:(\d{1,3})$/;
const SAVE = /^cs:s:(\d{1,3})$/;
const FULL_MASK = (1 << CONSENT_PURPOSES.length) - 1;

function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The consent message for the choices in `mask`. */
export function consentPrompt(ctx: Context, mask: number, again: boolean) {
  const choices = CONSENT_PURPOSES.map((id, bit) => {
    const purpose: PurposeSpec = PURPOSES[id];
    return ctx.t('consent.choice', {
      mark: mask & (1 << bit) ? '☑️' : '⬜',
      title: escapeHtml(purpose.title),
      description: escapeHtml(purpose.description),
    });
  }).join('\n\n');
  const text = again
    ? ctx.t('consent.prompt_again', { choices })
    : ctx.t('consent.prompt', { service: PURPOSES.service.title, security: PURPOSES.security.title, choices });
  const keyboard = new InlineKeyboard();
  CONSENT_PURPOSES.forEach((id, bit) => {
    const on = Boolean(mask & (1 << bit));
    keyboard
      .text(
        ctx.t(on ? 'consent.toggle_on' : 'consent.toggle_off', { title: PURPOSES[id].title }),
        `cs:t:${mask ^ (1 << bit)}`,
      )
      .row();
  });
  keyboard.text(ctx.t('consent.save'), `cs:s:${mask}`).row().text(ctx.t('consent.policy'), POLICY_CALLBACK);
  return { text, keyboard };
}

/** Which command an update is, if any. */
function commandOf(ctx: Context): string | undefined {
  const text = ctx.message?.text;
  if (!text?.startsWith('/')) return undefined;
  return text.slice(1).split(/[\s@]/)[0]?.toLowerCase();
}

export function consentFeature(deps: ConsentFeatureDeps) {
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');
  const personOf = (ctx: Context) => (ctx.from ? findUserByTelegramId(deps.db, ctx.from.id) : Promise.resolve(null));

  const ask = async (ctx: Context, again: boolean) => {
    const { text, keyboard } = consentPrompt(ctx, 0, again);
    await ctx.reply(text, { parse_mode: 'HTML', reply_markup: keyboard, link_preview_options: { is_disabled: true } });
  };

  // /start registers the person (the start feature, next), then the consent step begins if it is not done.
  feature.command('start', async (ctx, next) => {
    await next();
    const person = await personOf(ctx);
    if (person && !(await deps.privacy.hasCurrentConsentDecisions(person.id))) {
      const decidedBefore = (await deps.privacy.purposes(person.id)).some(
        (p) => p.legalBasis === 'consent' && p.grantedAt,
      );
      await ask(ctx, decidedBefore);
    }
  });

  feature.callbackQuery(TOGGLE, async (ctx) => {
    const mask = Number(TOGGLE.exec(ctx.callbackQuery.data)?.[1]) & FULL_MASK;
    await ctx.answerCallbackQuery();
    const { text, keyboard } = consentPrompt(ctx, mask, false);
    await ctx.editMessageText(text, {
      parse_mode: 'HTML',
      reply_markup: keyboard,
      link_preview_options: { is_disabled: true },
    });
  });

  feature.callbackQuery(SAVE, async (ctx) => {
    const mask = Number(SAVE.exec(ctx.callbackQuery.data)?.[1]) & FULL_MASK;
    const person = await personOf(ctx);
    if (!person || person.status === 'deleted') {
      await ctx.answerCallbackQuery({ text: ctx.t('privacy.no_account') });
      return;
    }
    const result = await deps.privacy.recordConsent(
      { userId: person.id, source: 'bot' },
      CONSENT_PURPOSES.map((purposeId, bit) => ({ purposeId, granted: Boolean(mask & (1 << bit)) })),
      'bot',
    );
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(ctx.t('consent.saved'));
    await sendReceipt(ctx, result);
  });

  // The gate: before the consent step is done, nothing beyond the essentials happens. A command the registry
  // does not know runs nothing and gets the unknown-command reply, the same one a command the person may not
  // use gets from the command guard (so the gate's answer cannot tell which commands exist).
  feature.use(async (ctx, next) => {
    const command = commandOf(ctx);
    const data = ctx.callbackQuery?.data;
    if (
      (command && (COMMANDS_BEFORE_CONSENT.includes(command) || !commandSpec(command))) ||
      data === POLICY_CALLBACK ||
      data?.startsWith('pv:') ||
      data === 'help'
    ) {
      await next();
      return;
    }
    const person = await personOf(ctx);
    // Someone who never sent /start is told to by the features themselves (nothing is processed for them).
    if (!person) {
      await next();
      return;
    }
    if (!(await deps.privacy.hasCurrentConsentDecisions(person.id))) {
      if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: ctx.t('consent.gate'), show_alert: true });
      else {
        await ctx.reply(ctx.t('consent.gate'));
        await ask(ctx, true);
      }
      return;
    }
    // Usage statistics: counted only with consent (countUsage checks it, and restriction, first).
    if (command && /^[a-z][a-z0-9_]{0,31}$/.test(command)) await countUsage(deps.db, person.id, `command.${command}`);
    await next();
  });

  return composer;
}
