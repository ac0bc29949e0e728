/**
 * The Telegram notices of role requests (rendered by the notify worker from ids): a new request, with
 * Approve / Reject buttons that open a confirmation (whose button carries a fresh single-use nonce), and the
 * outcome (approved, rejected, expired). They name accounts by short ids only, never by name.
 */
import { InlineKeyboard } from 'grammy';
import type { Db } from '#shared/db/index.ts';
import { findRoleGrant, type RoleGrantNotice } from '#shared/identity/role-grants.ts';
import { buildData } from '../../callbacks.ts';
import type { Translate } from '../../i18n/index.ts';
import { ADMIN_BUTTONS } from './buttons.ts';

/** The first 8 characters of an id: enough for an admin to tell accounts apart, nothing more. */
export const shortId = (id: string | null | undefined): string => (id ? id.slice(0, 8) : '-');

export function minute(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Null when the request is gone (its person was deleted). */
export async function renderRoleGrantNotice(
  db: Db,
  t: Translate,
  data: Pick<RoleGrantNotice, 'kind' | 'grantId'>,
): Promise<{ text: string; keyboard?: InlineKeyboard } | null> {
  const grant = await findRoleGrant(db, data.grantId);
  if (!grant) return null;
  const params = {
    id: shortId(grant.id),
    target: shortId(grant.targetUserId),
    requester: shortId(grant.requestedBy),
    decider: shortId(grant.decidedBy),
    until: minute(grant.expiresAt),
  };
  if (data.kind === 'role-grant-requested') {
    return {
      text: t('notify.role_grant_requested', params),
      keyboard: new InlineKeyboard()
        .text(t('admin.btn_approve_one'), buildData(ADMIN_BUTTONS.askApprove, [grant.id]))
        .text(t('admin.btn_reject_one'), buildData(ADMIN_BUTTONS.askReject, [grant.id])),
    };
  }
  const key =
    grant.status === 'approved'
      ? 'notify.role_grant_approved'
      : grant.status === 'rejected'
        ? 'notify.role_grant_rejected'
        : grant.status === 'expired'
          ? 'notify.role_grant_expired'
          : 'notify.role_grant_requested';
  return { text: t(key, params) };
}
