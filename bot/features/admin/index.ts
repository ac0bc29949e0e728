/**
 * `/admin`: one menu (@grammyjs/menu) over the admin surfaces: users and roles, bans and decisions, audit
 * search, stats, the latest scan, the data-request queue, key rotation and role requests awaiting a second
 * admin. Sections answer with their own message (ids and codes only, never names or message text).
 *
 * Guarantees, in the order they apply:
 * - the admin MFA gate and the admin step-up gate run first (features/mfa.ts, features/admin-step-up.ts cover
 *   `/admin` through the command registry and every `adm/` and `adm:` button); this feature checks the role and
 *   a fresh step-up again on every command and tap, since a button outlives the moment it was sent;
 * - a person who is not an admin gets exactly the unknown-command reply;
 * - destructive actions (role change, ban, lift, key rotation, approving or rejecting a role request) ask for
 *   confirmation, and the confirmation button carries a single-use nonce bound to the admin (bot/callbacks.ts);
 * - making someone an admin needs a second admin (shared/identity/role-grants.ts): the request is announced to
 *   every admin and the one who asked cannot approve it;
 * - every action is audited with the acting admin.
 */
import { Menu } from '@grammyjs/menu';
import { Composer, GrammyError, InlineKeyboard } from 'grammy';
import type { Redis } from 'ioredis';
import type { AuditLog } from '#shared/audit/index.ts';
import type { KeyRing } from '#shared/crypto/key-ring.ts';
import type { Db } from '#shared/db/index.ts';
import type { User } from '#shared/db/schema.ts';
import type { Defense } from '#shared/defense/index.ts';
import { isDomainError } from '#shared/errors.ts';
import { roleHas } from '#shared/identity/rbac.ts';
import { findRoleGrant, type RoleChangedNotice, type RoleGrantService } from '#shared/identity/role-grants.ts';
import { changeRole } from '#shared/identity/roles.ts';
import { findUserById, findUserByTelegramId, listUsersPage } from '#shared/identity/users.ts';
import type { PrivacyService } from '#shared/privacy/index.ts';
import { deadlineOf } from '#shared/privacy/index.ts';
import type { ScannerService } from '#shared/scanner/index.ts';
import type { SessionStore } from '#shared/tokens/sessions.ts';
import type { Callbacks } from '../../callbacks.ts';
import type { Context } from '../../context.ts';
import { renderScanReport } from '../scan.ts';
import { renderStats } from '../stats.ts';
import { hasFreshBotStepUp } from '../step-up.ts';
import { type AuditFilter, parseAuditFilter, searchAudit } from './audit-search.ts';
import { ADMIN_BUTTONS, DEMOTION_ROLES } from './buttons.ts';
import { minute, shortId } from './notices.ts';

export interface AdminFeatureDeps {
  db: Db;
  audit: Pick<AuditLog, 'record'>;
  callbacks: Callbacks;
  /** The two-person rule for the admin role. */
  grants: RoleGrantService;
  /** Where the bot's step-up freshness lives (features/step-up.ts). */
  redis: Redis;
  redisPrefix: string;
  /** Applies a role change to the person's API sessions at once. */
  sessions?: Pick<SessionStore, 'setRole'> | undefined;
  /** Tells a person their role changed (a notify job, ids only). */
  notify: (notice: RoleChangedNotice) => Promise<void>;
  defense?: Defense | undefined;
  scanner?: ScannerService | undefined;
  privacy?: PrivacyService | undefined;
  /** Key rotation: the ring, and queueing the re-encryption of existing data under the new key. */
  keys?: { ring: Pick<KeyRing, 'rotate' | 'list'>; reencrypt: () => Promise<void> } | undefined;
}

/** The menu's id: its buttons' data starts with `adm/`. */
export const ADMIN_MENU_ID = 'adm';
/** Users per page in the users section. */
export const USERS_PAGE_SIZE = 8;
/** How long a ban from the menu lasts. */
export const MENU_BAN_SECONDS = 24 * 3600;
/** Decisions and data requests listed at once. */
const LIST_LIMIT = 10;
/** Audit prefixes offered as buttons. */
const AUDIT_PREFIXES = ['auth.', 'admin.', 'mfa.', 'security.', 'defense.', 'privacy.'] as const;

type Mode = 'reply' | 'edit';
type Section = 'USERS' | 'DECISIONS' | 'AUDIT' | 'STATS' | 'SCAN' | 'DSR' | 'KEYS' | 'GRANTS';

const HTML = { parse_mode: 'HTML' as const, link_preview_options: { is_disabled: true } };

export function adminFeature(deps: AdminFeatureDeps) {
  const { db, callbacks: cb } = deps;
  const composer = new Composer<Context>();
  const feature = composer.chatType('private');

  /**
   * The person, when they are an active admin with a fresh step-up. An admin whose step-up went stale is told
   * how to renew it; anyone else gets null (and the caller answers like an unknown command or button).
   */
  async function adminOf(ctx: Context): Promise<User | null> {
    const telegramId = ctx.from?.id;
    if (telegramId === undefined || ctx.chat?.type !== 'private') return null;
    const user = await findUserByTelegramId(db, telegramId);
    if (user?.role !== 'admin' || user.status !== 'active') return null;
    // Behind the step-up gate this always holds; checked again because a button can be tapped long after.
    if (!(await hasFreshBotStepUp(deps, user.id))) {
      if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: ctx.t('admin.stepup_needed'), show_alert: true });
      else await ctx.reply(ctx.t('admin.stepup_needed'));
      return null;
    }
    return user;
  }

  const record = (
    admin: User,
    action: string,
    reasonCode: string,
    target?: { type: string; id: string },
    subjectUserId?: string,
  ) =>
    deps.audit.record({
      actor: { type: 'user', id: admin.id },
      action,
      ...(target ? { target } : {}),
      ...(subjectUserId ? { subjectUserId } : {}),
      result: 'success',
      reasonCode,
      source: 'bot',
    });

  /** Sends a section (a new message) or replaces the tapped message with it. */
  async function show(ctx: Context, mode: Mode, text: string, keyboard?: InlineKeyboard) {
    const options = { ...HTML, ...(keyboard ? { reply_markup: keyboard } : {}) };
    if (mode === 'edit' && ctx.callbackQuery?.message) {
      try {
        await ctx.editMessageText(text, options);
      } catch (error) {
        // Tapping the same page twice: Telegram refuses an edit that changes nothing.
        if (!(error instanceof GrammyError && /not modified/.test(error.description))) throw error;
      }
      return;
    }
    await ctx.reply(text, options);
  }

  const confirmKeyboard = (ctx: Context, data: string) =>
    new InlineKeyboard()
      .text(ctx.t('admin.btn_confirm'), data)
      .text(ctx.t('admin.btn_cancel'), cb.data(ADMIN_BUTTONS.cancel, []));

  /** Domain refusals (last admin, self-approval, an expired request) become an alert on the tap. */
  async function refusing(ctx: Context, run: () => Promise<void>) {
    try {
      await run();
    } catch (error) {
      if (!isDomainError(error)) throw error;
      const text = error.code === 'SELF_APPROVAL' ? ctx.t('admin.self_approval') : error.message;
      await ctx.answerCallbackQuery({ text, show_alert: true });
    }
  }

  // --- Sections ---

  async function showUsers(ctx: Context, admin: User, page: number, mode: Mode) {
    const { rows, total } = await listUsersPage(db, { offset: page * USERS_PAGE_SIZE, limit: USERS_PAGE_SIZE });
    if (total === 0) return show(ctx, mode, ctx.t('admin.users_none'));
    const keyboard = new InlineKeyboard();
    for (const row of rows) {
      keyboard
        .text(
          ctx.t('admin.user_button', { id: shortId(row.id), role: row.role, status: row.status }),
          cb.data(ADMIN_BUTTONS.user, [row.id]),
        )
        .row();
    }
    if (page > 0) keyboard.text(ctx.t('admin.btn_prev'), cb.data(ADMIN_BUTTONS.users, [page - 1]));
    if ((page + 1) * USERS_PAGE_SIZE < total)
      keyboard.text(ctx.t('admin.btn_next'), cb.data(ADMIN_BUTTONS.users, [page + 1]));
    const from = Math.min(total, page * USERS_PAGE_SIZE + 1);
    await show(
      ctx,
      mode,
      ctx.t('admin.users_title', { from, to: page * USERS_PAGE_SIZE + rows.length, total }),
      keyboard,
    );
    void admin;
  }

  async function showUser(ctx: Context, admin: User, userId: string) {
    const user = await findUserById(db, userId);
    if (!user) return void (await ctx.answerCallbackQuery({ text: ctx.t('admin.gone') }));
    await ctx.answerCallbackQuery();
    const keyboard = new InlineKeyboard();
    if (user.role !== 'admin')
      keyboard.text(ctx.t('admin.btn_promote'), cb.data(ADMIN_BUTTONS.askPromote, [user.id])).row();
    if (user.role !== 'user')
      keyboard.text(ctx.t('admin.btn_set_user'), cb.data(ADMIN_BUTTONS.askRole, [user.id, 'u'])).row();
    if (user.role !== 'readonly')
      keyboard.text(ctx.t('admin.btn_set_readonly'), cb.data(ADMIN_BUTTONS.askRole, [user.id, 'r'])).row();
    if (deps.defense && user.id !== admin.id)
      keyboard.text(ctx.t('admin.btn_ban'), cb.data(ADMIN_BUTTONS.askBan, [user.id])).row();
    keyboard.text(ctx.t('admin.btn_back'), cb.data(ADMIN_BUTTONS.users, [0]));
    await show(
      ctx,
      'edit',
      ctx.t('admin.user_detail', { id: user.id, role: user.role, status: user.status, since: minute(user.createdAt) }),
      keyboard,
    );
  }

  async function showDecisions(ctx: Context, mode: Mode) {
    if (!deps.defense) return show(ctx, mode, ctx.t('admin.off'));
    const decisions = await deps.defense.decisions.listActive(LIST_LIMIT);
    if (decisions.length === 0) return show(ctx, mode, ctx.t('admin.decisions_none'));
    const keyboard = new InlineKeyboard();
    const lines = decisions.map((decision, index) => {
      keyboard.text(ctx.t('admin.btn_lift', { n: index + 1 }), cb.data(ADMIN_BUTTONS.askLift, [decision.id]));
      if (index % 4 === 3) keyboard.row();
      return ctx.t('admin.decision_line', {
        n: index + 1,
        scenario: decision.scenario,
        kind: decision.kind,
        target: decision.target,
        until: minute(decision.expiresAt),
      });
    });
    await show(ctx, mode, [ctx.t('admin.decisions_title', { count: decisions.length }), ...lines].join('\n'), keyboard);
  }

  const auditArgs = (filter: AuditFilter, page: number): ['n' | 'p' | 'u', string, number] =>
    filter.kind === 'p'
      ? ['p', filter.prefix, page]
      : filter.kind === 'u'
        ? ['u', filter.userId, page]
        : ['n', '-', page];

  async function showAudit(ctx: Context, admin: User, filter: AuditFilter, page: number, mode: Mode) {
    const { rows, hasMore } = await searchAudit(db, filter, page);
    // Reading the trail is itself recorded: which filter, never what was seen.
    await record(admin, 'admin.audit_searched', `FILTER_${filter.kind.toUpperCase()}`);
    const label =
      filter.kind === 'p'
        ? `${filter.prefix}*`
        : filter.kind === 'u'
          ? `user ${filter.userId}`
          : ctx.t('admin.audit_latest');
    const lines = rows.map((row) =>
      ctx.t('admin.audit_line', {
        seq: row.seq,
        at: minute(row.occurredAt),
        action: row.action,
        result: row.result,
        reason: row.reasonCode ? ` ${row.reasonCode}` : '',
        actor:
          row.actorType === 'user' ? shortId(row.actorId) : `${row.actorType}${row.actorId ? `:${row.actorId}` : ''}`,
      }),
    );
    const keyboard = new InlineKeyboard();
    for (const [index, prefix] of AUDIT_PREFIXES.entries()) {
      keyboard.text(prefix, cb.data(ADMIN_BUTTONS.audit, ['p', prefix, 0]));
      if (index % 3 === 2) keyboard.row();
    }
    keyboard.text(ctx.t('admin.audit_latest'), cb.data(ADMIN_BUTTONS.audit, ['n', '-', 0])).row();
    if (page > 0) keyboard.text(ctx.t('admin.btn_prev'), cb.data(ADMIN_BUTTONS.audit, auditArgs(filter, page - 1)));
    if (hasMore) keyboard.text(ctx.t('admin.btn_next'), cb.data(ADMIN_BUTTONS.audit, auditArgs(filter, page + 1)));
    const text = [
      ctx.t('admin.audit_title', { filter: label, page: page + 1 }),
      ...(lines.length > 0 ? lines : [ctx.t('admin.audit_none')]),
      '',
      ctx.t('admin.audit_help'),
    ].join('\n');
    await show(ctx, mode, text, keyboard);
  }

  async function showStats(ctx: Context) {
    if (!deps.defense) return show(ctx, 'reply', ctx.t('admin.off'));
    // The same text as /stats.
    await ctx.reply(await renderStats(ctx.t, { db, defense: deps.defense }));
  }

  async function showScan(ctx: Context, admin: User) {
    if (!deps.scanner) return show(ctx, 'reply', ctx.t('admin.off'));
    // The /scan report and its "Scan now" button (handled by features/scan.ts).
    const { text, keyboard } = renderScanReport(
      ctx.t,
      await deps.scanner.latest(),
      roleHas(admin.role, 'admin:security:write'),
    );
    await show(ctx, 'reply', text, keyboard);
  }

  async function showDsr(ctx: Context) {
    if (!deps.privacy) return show(ctx, 'reply', ctx.t('admin.off'));
    const queue = await deps.privacy.queue();
    if (queue.length === 0) return show(ctx, 'reply', ctx.t('dsr.queue_empty'));
    const lines = queue.slice(0, LIST_LIMIT).map((row, index) => {
      const deadline = deadlineOf(row);
      return ctx.t('dsr.queue_line', {
        n: index + 1,
        kind: ctx.t(`mydata.kind_${row.kind}`),
        status: ctx.t(`mydata.status_${row.status}`),
        due: minute(row.dueAt),
        extended: row.extendedUntil ? ctx.t('mydata.extended', { until: minute(row.extendedUntil) }) : '',
        flag: deadline.getTime() < Date.now() ? ctx.t('dsr.overdue_flag') : '',
      });
    });
    // Extending a deadline needs a reason the person is told: /dsr has the buttons for it.
    await show(ctx, 'reply', [ctx.t('dsr.queue_title', { count: queue.length }), ...lines, '', '/dsr'].join('\n'));
  }

  async function showKeys(ctx: Context, mode: Mode) {
    if (!deps.keys) return show(ctx, mode, ctx.t('admin.keys_off'));
    const keys = deps.keys.ring
      .list()
      .map((key) => ctx.t('admin.key_line', { id: key.id, status: key.status }))
      .join('\n');
    await show(
      ctx,
      mode,
      ctx.t('admin.keys_title', { keys }),
      new InlineKeyboard().text(ctx.t('admin.btn_rotate'), cb.data(ADMIN_BUTTONS.askRotate, [])),
    );
  }

  async function showGrants(ctx: Context, mode: Mode) {
    const pending = await deps.grants.pending('bot');
    if (pending.length === 0) return show(ctx, mode, ctx.t('admin.grants_none'));
    const keyboard = new InlineKeyboard();
    const lines = pending.slice(0, LIST_LIMIT).map((grant, index) => {
      keyboard
        .text(ctx.t('admin.btn_approve', { n: index + 1 }), cb.data(ADMIN_BUTTONS.askApprove, [grant.id]))
        .text(ctx.t('admin.btn_reject', { n: index + 1 }), cb.data(ADMIN_BUTTONS.askReject, [grant.id]))
        .row();
      return ctx.t('admin.grant_line', {
        n: index + 1,
        target: shortId(grant.targetUserId),
        requester: shortId(grant.requestedBy),
        until: minute(grant.expiresAt),
      });
    });
    await show(ctx, mode, [ctx.t('admin.grants_title', { count: pending.length }), ...lines].join('\n'), keyboard);
  }

  // --- The menu ---

  /** A menu button: admins only (anyone else's tap is answered like a stale button), audited, then the section. */
  const section = (name: Section, render: (ctx: Context, admin: User) => Promise<unknown>) => async (ctx: Context) => {
    const admin = await adminOf(ctx);
    if (!admin) return;
    await record(admin, 'admin.section_viewed', name);
    await render(ctx, admin);
  };

  const menu = new Menu<Context>(ADMIN_MENU_ID)
    .text(
      (ctx) => ctx.t('admin.btn_users'),
      section('USERS', (ctx, admin) => showUsers(ctx, admin, 0, 'reply')),
    )
    .text(
      (ctx) => ctx.t('admin.btn_decisions'),
      section('DECISIONS', (ctx) => showDecisions(ctx, 'reply')),
    )
    .row()
    .text(
      (ctx) => ctx.t('admin.btn_audit'),
      section('AUDIT', (ctx, admin) => showAudit(ctx, admin, { kind: 'n' }, 0, 'reply')),
    )
    .text((ctx) => ctx.t('admin.btn_stats'), section('STATS', showStats))
    .row()
    .text((ctx) => ctx.t('admin.btn_scan'), section('SCAN', showScan))
    .text((ctx) => ctx.t('admin.btn_dsr'), section('DSR', showDsr))
    .row()
    .text(
      (ctx) => ctx.t('admin.btn_keys'),
      section('KEYS', (ctx) => showKeys(ctx, 'reply')),
    )
    .text(
      (ctx) => ctx.t('admin.btn_grants'),
      section('GRANTS', (ctx) => showGrants(ctx, 'reply')),
    );
  // Only for admins: the menu plugin answers a tap on a stale or unknown `adm/` button by redrawing the menu,
  // which would show its layout to whoever forged one. Anyone else's `adm/` data falls through to the
  // callbacks fallback and is refused as forged.
  const isAdmin = async (ctx: Context) => {
    const user = ctx.from ? await findUserByTelegramId(db, ctx.from.id) : null;
    return user?.role === 'admin' && user.status === 'active';
  };
  feature.filter(isAdmin, menu);

  feature.command('admin', async (ctx, next) => {
    const isAdmin = await findUserByTelegramId(db, ctx.from.id);
    // Answered like an unknown command: no hint that admin commands exist.
    if (isAdmin?.role !== 'admin' || isAdmin.status !== 'active') return next();
    const admin = await adminOf(ctx);
    if (!admin) return;
    const [sub, ...rest] = ctx.match.trim().split(/\s+/);
    if (sub?.toLowerCase() === 'audit') {
      // One word: an action prefix or a user id. Anything else gets the help text.
      const filter = rest.length <= 1 ? parseAuditFilter(rest[0]) : null;
      if (!filter) return void (await ctx.reply(ctx.t('admin.audit_help'), HTML));
      return showAudit(ctx, admin, filter, 0, 'reply');
    }
    await record(admin, 'admin.menu_opened', 'MENU');
    await ctx.reply(ctx.t('admin.menu_title'), { ...HTML, reply_markup: menu });
  });

  // --- Section buttons (every handler: admins only; the data is parsed strictly by bot/callbacks.ts) ---

  /** Registers a handler that runs only for an admin; anyone else gets the stale-button answer. */
  const onTap = <Args extends readonly unknown[]>(
    kind: import('../../callbacks.ts').ButtonKind<Args>,
    handler: (ctx: Context, admin: User, args: Args) => Promise<unknown>,
  ) =>
    cb.handle(feature, kind, async (ctx, args) => {
      const admin = await adminOf(ctx);
      if (!admin) {
        if (!ctx.callbackQuery?.id) return;
        // adminOf already answered an admin with a stale step-up; anyone else sees a stale button.
        const user = await findUserByTelegramId(db, ctx.from.id);
        if (user?.role !== 'admin') await ctx.answerCallbackQuery({ text: ctx.t('unhandled.callback') });
        return;
      }
      await handler(ctx, admin, args);
    });

  onTap(ADMIN_BUTTONS.users, async (ctx, admin, [page]) => {
    await ctx.answerCallbackQuery();
    await showUsers(ctx, admin, page, 'edit');
  });
  onTap(ADMIN_BUTTONS.user, (ctx, admin, [userId]) => showUser(ctx, admin, userId));
  onTap(ADMIN_BUTTONS.decisions, async (ctx) => {
    await ctx.answerCallbackQuery();
    await showDecisions(ctx, 'edit');
  });
  onTap(ADMIN_BUTTONS.audit, async (ctx, admin, [kind, value, page]) => {
    const filter = kind === 'n' ? { kind } : parseAuditFilter(value);
    if (!filter || (kind !== 'n' && filter.kind !== kind)) return cb.reject(ctx, 'MALFORMED');
    await ctx.answerCallbackQuery();
    await showAudit(ctx, admin, filter, page, 'edit');
  });
  onTap(ADMIN_BUTTONS.keys, async (ctx) => {
    await ctx.answerCallbackQuery();
    await showKeys(ctx, 'edit');
  });
  onTap(ADMIN_BUTTONS.grants, async (ctx) => {
    await ctx.answerCallbackQuery();
    await showGrants(ctx, 'edit');
  });
  onTap(ADMIN_BUTTONS.cancel, async (ctx) => {
    await ctx.answerCallbackQuery();
    await show(ctx, 'edit', ctx.t('admin.cancelled'));
  });

  // --- Asking: a confirmation whose button carries a nonce bound to this admin and this exact action ---

  onTap(ADMIN_BUTTONS.askPromote, async (ctx, _admin, [userId]) => {
    await ctx.answerCallbackQuery();
    const data = await cb.issueData(ADMIN_BUTTONS.promote, [userId], ctx.from?.id ?? 0);
    await show(ctx, 'edit', ctx.t('admin.confirm_promote', { id: userId }), confirmKeyboard(ctx, data));
  });
  onTap(ADMIN_BUTTONS.askRole, async (ctx, _admin, [userId, role]) => {
    await ctx.answerCallbackQuery();
    const data = await cb.issueData(ADMIN_BUTTONS.setRole, [userId, role], ctx.from?.id ?? 0);
    await show(
      ctx,
      'edit',
      ctx.t('admin.confirm_role', { id: userId, role: DEMOTION_ROLES[role] }),
      confirmKeyboard(ctx, data),
    );
  });
  onTap(ADMIN_BUTTONS.askBan, async (ctx, admin, [userId]) => {
    if (userId === admin.id) return void (await ctx.answerCallbackQuery({ text: ctx.t('admin.not_self') }));
    await ctx.answerCallbackQuery();
    const data = await cb.issueData(ADMIN_BUTTONS.ban, [userId], ctx.from?.id ?? 0);
    await show(ctx, 'edit', ctx.t('admin.confirm_ban', { id: userId }), confirmKeyboard(ctx, data));
  });
  onTap(ADMIN_BUTTONS.askLift, async (ctx, _admin, [decisionId]) => {
    await ctx.answerCallbackQuery();
    const data = await cb.issueData(ADMIN_BUTTONS.lift, [decisionId], ctx.from?.id ?? 0);
    await show(ctx, 'edit', ctx.t('admin.confirm_lift', { id: decisionId }), confirmKeyboard(ctx, data));
  });
  onTap(ADMIN_BUTTONS.askRotate, async (ctx) => {
    await ctx.answerCallbackQuery();
    const data = await cb.issueData(ADMIN_BUTTONS.rotate, [], ctx.from?.id ?? 0);
    await show(ctx, 'edit', ctx.t('admin.confirm_rotate'), confirmKeyboard(ctx, data));
  });
  const askGrant =
    (approving: boolean) =>
    async (ctx: Context, admin: User, [grantId]: [string]) => {
      // A lapsed request is marked (audited, announced) before anyone is offered to decide it.
      await deps.grants.expireDue('bot');
      const grant = await findRoleGrant(db, grantId);
      if (grant?.status !== 'pending' || grant.expiresAt.getTime() <= Date.now()) {
        return void (await ctx.answerCallbackQuery({ text: ctx.t('admin.not_pending'), show_alert: true }));
      }
      if (approving && grant.requestedBy === admin.id) {
        // The two-person rule: the one who asked never even gets an approval button.
        await deps.audit.record({
          actor: { type: 'user', id: admin.id },
          action: 'admin.role_grant_approved',
          target: { type: 'role_grant', id: grant.id },
          subjectUserId: grant.targetUserId,
          result: 'denied',
          reasonCode: 'SELF_APPROVAL',
          source: 'bot',
        });
        return void (await ctx.answerCallbackQuery({ text: ctx.t('admin.self_approval'), show_alert: true }));
      }
      await ctx.answerCallbackQuery();
      const kind = approving ? ADMIN_BUTTONS.approve : ADMIN_BUTTONS.reject;
      const data = await cb.issueData(kind, [grant.id], ctx.from?.id ?? 0);
      const params = { target: shortId(grant.targetUserId), requester: shortId(grant.requestedBy) };
      const text = ctx.t(approving ? 'admin.confirm_approve' : 'admin.confirm_reject', params);
      // A new message: the announcement stays as it was (every admin got the same one).
      await show(ctx, 'reply', text, confirmKeyboard(ctx, data));
    };
  onTap(ADMIN_BUTTONS.askApprove, askGrant(true));
  onTap(ADMIN_BUTTONS.askReject, askGrant(false));

  // --- Confirmed (the nonce was consumed before these run: a replayed or forwarded tap never gets here) ---

  onTap(ADMIN_BUTTONS.promote, (ctx, admin, [userId]) =>
    refusing(ctx, async () => {
      const grant = await deps.grants.request(userId, { actorUserId: admin.id, source: 'bot' });
      await ctx.answerCallbackQuery();
      await show(
        ctx,
        'edit',
        ctx.t('admin.grant_requested', { id: shortId(grant.id), until: minute(grant.expiresAt) }),
      );
    }),
  );

  onTap(ADMIN_BUTTONS.setRole, (ctx, admin, [userId, code]) =>
    refusing(ctx, async () => {
      const role = DEMOTION_ROLES[code];
      // Re-checked under the role lock: a concurrent demotion of this admin wins; the last admin stays.
      const result = await changeRole(db, { userId, role, actorId: admin.id });
      await ctx.answerCallbackQuery();
      if (!result.changed) return show(ctx, 'edit', ctx.t('admin.role_unchanged', { id: userId }));
      await deps.sessions?.setRole(userId, role);
      await deps.audit.record({
        actor: { type: 'user', id: admin.id },
        subjectUserId: userId,
        action: 'admin.role_change',
        target: { type: 'user', id: userId },
        result: 'success',
        reasonCode: `ROLE_${result.previous.toUpperCase()}_TO_${role.toUpperCase()}`,
        source: 'bot',
      });
      await deps.notify({ kind: 'role-changed', userId, role });
      await show(ctx, 'edit', ctx.t('admin.role_changed', { id: userId, role }));
    }),
  );

  onTap(ADMIN_BUTTONS.ban, async (ctx, admin, [userId]) => {
    if (!deps.defense || userId === admin.id)
      return void (await ctx.answerCallbackQuery({ text: ctx.t('admin.gone') }));
    // Audited by defense itself (`defense.decision_issued`, with this admin as the actor).
    const decision = await deps.defense.issueManual(
      { target: { scope: 'user', value: userId }, kind: 'ban', seconds: MENU_BAN_SECONDS, reason: 'ADMIN_BAN' },
      { actorUserId: admin.id, source: 'bot' },
    );
    await ctx.answerCallbackQuery();
    await show(ctx, 'edit', ctx.t('admin.banned', { id: userId, until: minute(decision.expiresAt) }));
  });

  onTap(ADMIN_BUTTONS.lift, async (ctx, admin, [decisionId]) => {
    // Audited by defense itself (`defense.decision_lifted`).
    const lifted = deps.defense ? await deps.defense.lift(decisionId, { actorUserId: admin.id, source: 'bot' }) : null;
    await ctx.answerCallbackQuery();
    await show(ctx, 'edit', lifted ? ctx.t('admin.lifted', { id: decisionId }) : ctx.t('admin.gone'));
  });

  onTap(ADMIN_BUTTONS.rotate, async (ctx, admin) => {
    if (!deps.keys) return void (await ctx.answerCallbackQuery({ text: ctx.t('admin.keys_off'), show_alert: true }));
    const id = await deps.keys.ring.rotate();
    // Existing data moves to the new key in the background (the resumable `crypto` queue job).
    await deps.keys.reencrypt();
    await record(admin, 'admin.key_rotated', 'ROTATED', { type: 'crypto_key', id: String(id) });
    await ctx.answerCallbackQuery();
    await show(ctx, 'edit', ctx.t('admin.rotated', { id }));
  });

  onTap(ADMIN_BUTTONS.approve, (ctx, admin, [grantId]) =>
    refusing(ctx, async () => {
      const grant = await deps.grants.approve(grantId, { actorUserId: admin.id, source: 'bot' });
      await ctx.answerCallbackQuery();
      await show(ctx, 'edit', ctx.t('admin.grant_approved', { target: shortId(grant.targetUserId) }));
    }),
  );

  onTap(ADMIN_BUTTONS.reject, (ctx, admin, [grantId]) =>
    refusing(ctx, async () => {
      await deps.grants.reject(grantId, { actorUserId: admin.id, source: 'bot' });
      await ctx.answerCallbackQuery();
      await show(ctx, 'edit', ctx.t('admin.grant_rejected'));
    }),
  );

  return composer;
}
