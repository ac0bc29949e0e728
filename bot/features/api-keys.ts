/**
 * /apikeys: the person's API keys with buttons to create (full or read-only), rotate and revoke (after a
 * second tap). A new key is shown once, in its own message. Every button names a key by id and is checked
 * against the tapping person's own keys: someone else's id is "gone", exactly like a revoked one. Rotate and the
 * revoke confirmation carry a single-use nonce bound to the person and the key (bot/callbacks.ts).
 */
import { Composer, InlineKeyboard } from 'grammy';
import { type ApiKeyService, type ApiKeyView, defaultScopes } from '#shared/api-keys/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { User } from '#shared/db/schema.ts';
import { roleHas } from '#shared/identity/rbac.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { arg, button, type Callbacks, createCallbacks } from '../callbacks.ts';
import type { Context } from '../context.ts';

export interface ApiKeysFeatureDeps {
  db: Db;
  service: ApiKeyService;
  /** Callback data checks and nonces (one per bot); a private one in memory when absent. */
  callbacks?: Callbacks | undefined;
}

/** Callback data: `ak:<action>`, `ak:<action>:<key id>`, destructive ones `ak:<action>:<key id>:<nonce>`. */
export const API_KEY_BUTTONS = {
  list: button('ak:list', []),
  create: button('ak:new', []),
  createReadOnly: button('ak:new-ro', []),
  rotate: button('ak:rot', [arg.uuid()], { nonce: true }),
  revokeAsk: button('ak:rev', [arg.uuid()]),
  revokeConfirmed: button('ak:rev!', [arg.uuid()], { nonce: true }),
  cancel: button('ak:cancel', []),
};
const B = API_KEY_BUTTONS;
/** Longest name shown in the list (the full name is up to 64 characters). */
const NAME_DISPLAY_LENGTH = 32;

/** Names come from people (and the API): escaped for Telegram's HTML parse mode. */
function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function shortName(name: string): string {
  return escapeHtml(name.length > NAME_DISPLAY_LENGTH ? `${name.slice(0, NAME_DISPLAY_LENGTH - 1)}…` : name);
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function minute(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function scopeSummary(ctx: Context, view: Pick<ApiKeyView, 'effectiveScopes'>, owner: User): string {
  const scopes = view.effectiveScopes;
  if (scopes.length === 0) return ctx.t('apikeys.scopes_none');
  if (scopes.every((scope) => scope.endsWith(':read'))) return ctx.t('apikeys.scopes_read_only');
  const full = defaultScopes(owner.role);
  if (full.every((scope) => scopes.includes(scope))) return ctx.t('apikeys.scopes_full');
  return escapeHtml(scopes.join(', '));
}

export function apiKeysFeature(deps: ApiKeysFeatureDeps) {
  const { service } = deps;
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');
  const callbacks = deps.callbacks ?? createCallbacks({ db: deps.db });

  /** The person behind the update, if they may use keys at all (a reply explains when not). */
  async function ownerOf(ctx: Context, needsWrite: boolean): Promise<User | null> {
    const telegramId = ctx.from?.id;
    const owner = telegramId === undefined ? null : await findUserByTelegramId(deps.db, telegramId);
    const problem = !owner
      ? ctx.t('apikeys.no_account')
      : owner.status !== 'active' || !roleHas(owner.role, needsWrite ? 'api-keys:write' : 'api-keys:read')
        ? ctx.t('apikeys.not_allowed')
        : null;
    if (problem === null) return owner;
    if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: problem, show_alert: true });
    else await ctx.reply(problem);
    return null;
  }

  async function showList(ctx: Context, owner: User) {
    const views = await service.list(owner.id);
    const canWrite = roleHas(owner.role, 'api-keys:write');
    const lines = views.map((view, index) => {
      const params = {
        n: index + 1,
        name: shortName(view.name),
        prefix: escapeHtml(view.displayPrefix),
        scopes: scopeSummary(ctx, view, owner),
        expires: day(view.expiresAt),
        until: minute(view.expiresAt),
        lastUsed: view.lastUsedAt ? minute(view.lastUsedAt) : ctx.t('apikeys.never_used'),
      };
      if (view.status === 'rotating') return ctx.t('apikeys.item_rotating', params);
      if (view.status === 'expired') return ctx.t('apikeys.item_expired', params);
      return ctx.t('apikeys.item', params);
    });
    const text = [
      ctx.t('apikeys.title'),
      views.length === 0 ? ctx.t('apikeys.empty') : lines.join('\n\n'),
      ...(canWrite ? [] : [ctx.t('apikeys.read_only_role')]),
    ].join('\n\n');
    const keyboard = new InlineKeyboard();
    const telegramId = ctx.from?.id;
    if (canWrite && telegramId !== undefined) {
      for (const [index, view] of views.entries()) {
        if (view.status === 'active')
          keyboard.text(
            ctx.t('apikeys.rotate_button', { n: index + 1 }),
            await callbacks.issueData(B.rotate, [view.id], telegramId),
          );
        keyboard.text(ctx.t('apikeys.revoke_button', { n: index + 1 }), callbacks.data(B.revokeAsk, [view.id])).row();
      }
      keyboard
        .text(ctx.t('apikeys.new_button'), callbacks.data(B.create, []))
        .text(ctx.t('apikeys.new_read_only_button'), callbacks.data(B.createReadOnly, []));
    }
    await ctx.reply(text, { parse_mode: 'HTML', reply_markup: keyboard });
  }

  feature.command('apikeys', async (ctx) => {
    const owner = await ownerOf(ctx, false);
    if (owner) await showList(ctx, owner);
  });

  callbacks.handle(feature, B.list, async (ctx) => {
    const owner = await ownerOf(ctx, false);
    if (!owner) return;
    await ctx.answerCallbackQuery();
    await showList(ctx, owner);
  });

  const create = async (ctx: Context, readOnly: boolean) => {
    const owner = await ownerOf(ctx, true);
    if (!owner) return;
    const existing = new Set((await service.list(owner.id)).map((view) => view.name));
    let number = existing.size + 1;
    while (existing.has(ctx.t('apikeys.default_name', { n: number }))) number++;
    const full = defaultScopes(owner.role);
    const { key, apiKey } = await service.create({
      userId: owner.id,
      name: ctx.t('apikeys.default_name', { n: number }),
      scopes: readOnly ? full.filter((scope) => scope.endsWith(':read')) : full,
      source: 'bot',
    });
    await ctx.answerCallbackQuery();
    // The only time the key is ever shown: <code> makes it one tap to copy.
    await ctx.reply(
      ctx.t('apikeys.created', {
        name: escapeHtml(apiKey.name),
        key,
        scopes: scopeSummary(ctx, apiKey, owner),
        expires: day(apiKey.expiresAt),
      }),
      {
        parse_mode: 'HTML',
        reply_markup: new InlineKeyboard().text(ctx.t('apikeys.list_button'), callbacks.data(B.list, [])),
      },
    );
  };
  callbacks.handle(feature, B.create, (ctx) => create(ctx, false));
  callbacks.handle(feature, B.createReadOnly, (ctx) => create(ctx, true));

  callbacks.handle(feature, B.rotate, async (ctx, [keyId]) => {
    const owner = await ownerOf(ctx, true);
    if (!owner) return;
    // Checked against the tapping person's own keys: another person's id is simply gone.
    const current = await service.get(owner.id, keyId);
    if (current?.status !== 'active') {
      await ctx.answerCallbackQuery({ text: ctx.t('apikeys.gone'), show_alert: true });
      return;
    }
    const { key, apiKey, previous } = await service.rotate({ userId: owner.id, keyId, source: 'bot' });
    await ctx.answerCallbackQuery();
    await ctx.reply(
      ctx.t('apikeys.rotated', {
        name: escapeHtml(apiKey.name),
        key,
        expires: day(apiKey.expiresAt),
        oldPrefix: escapeHtml(previous.displayPrefix),
        until: minute(previous.expiresAt),
      }),
      {
        parse_mode: 'HTML',
        reply_markup: new InlineKeyboard().text(ctx.t('apikeys.list_button'), callbacks.data(B.list, [])),
      },
    );
  });

  callbacks.handle(feature, B.revokeAsk, async (ctx, [keyId]) => {
    const owner = await ownerOf(ctx, true);
    if (!owner) return;
    const current = await service.get(owner.id, keyId);
    if (!current) {
      await ctx.answerCallbackQuery({ text: ctx.t('apikeys.gone'), show_alert: true });
      return;
    }
    await ctx.answerCallbackQuery();
    // Revoking breaks whatever uses the key: a second, explicit tap confirms it.
    await ctx.reply(
      ctx.t('apikeys.revoke_confirm', { name: escapeHtml(current.name), prefix: escapeHtml(current.displayPrefix) }),
      {
        parse_mode: 'HTML',
        reply_markup: new InlineKeyboard()
          .text(ctx.t('apikeys.revoke_yes'), await callbacks.issueData(B.revokeConfirmed, [current.id], ctx.from.id))
          .text(ctx.t('apikeys.revoke_cancel'), callbacks.data(B.cancel, [])),
      },
    );
  });

  callbacks.handle(feature, B.revokeConfirmed, async (ctx, [keyId]) => {
    const owner = await ownerOf(ctx, true);
    if (!owner) return;
    const current = await service.get(owner.id, keyId);
    if (!current) {
      await ctx.answerCallbackQuery({ text: ctx.t('apikeys.gone'), show_alert: true });
      return;
    }
    const revoked = await service.revoke({ userId: owner.id, keyId, source: 'bot' });
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(
      ctx.t('apikeys.revoked', { name: escapeHtml(revoked.name), prefix: escapeHtml(revoked.displayPrefix) }),
      { parse_mode: 'HTML' },
    );
  });

  callbacks.handle(feature, B.cancel, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(ctx.t('apikeys.revoke_cancelled'));
  });

  return composer;
}
