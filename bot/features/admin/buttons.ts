/**
 * Every button of the admin menu's sections, declared once (bot/callbacks.ts): typed arguments, strict
 * parsing, and for each destructive action (role change, ban, lift, key rotation, approving or rejecting a
 * role request) a confirmation step whose button carries a single-use nonce bound to the admin and the exact
 * action. All data starts with `adm:`, which the admin step-up gate covers (features/admin-step-up.ts).
 */
import { arg, button } from '../../callbacks.ts';

const page = arg.int(0, 9999);
const id = arg.uuid();
/** `u`: the `user` role, `r`: `readonly` (short, so the data stays within 64 bytes with a nonce). */
const demotion = arg.oneOf(['u', 'r'] as const);
/** Audit filters: `n` latest, `p` action prefix, `u` user id. */
const auditKind = arg.oneOf(['n', 'p', 'u'] as const);
/** An action prefix (`auth.`, `admin.role`), a user id, or `-` for none. */
const auditValue = arg.text(/-|[a-z][a-z0-9_.]{0,31}|[0-9a-f-]{36}/);

export const ADMIN_BUTTONS = {
  /** Sections. */
  users: button('adm:u', [page]),
  user: button('adm:ud', [id]),
  decisions: button('adm:d', []),
  audit: button('adm:a', [auditKind, auditValue, page]),
  keys: button('adm:k', []),
  grants: button('adm:g', []),
  cancel: button('adm:x', []),
  /** Asking (shows a confirmation with a nonce button). */
  askPromote: button('adm:up', [id]),
  askRole: button('adm:ur', [id, demotion]),
  askBan: button('adm:ub', [id]),
  askLift: button('adm:dl', [id]),
  askRotate: button('adm:kr', []),
  askApprove: button('adm:ga', [id]),
  askReject: button('adm:gr', [id]),
  /** Confirmations: single use, bound to the admin they were shown to. */
  promote: button('adm:cp', [id], { nonce: true }),
  setRole: button('adm:cr', [id, demotion], { nonce: true }),
  ban: button('adm:cb', [id], { nonce: true }),
  lift: button('adm:cl', [id], { nonce: true }),
  rotate: button('adm:ck', [], { nonce: true }),
  approve: button('adm:cga', [id], { nonce: true }),
  reject: button('adm:cgr', [id], { nonce: true }),
} as const;

export const DEMOTION_ROLES = { u: 'user', r: 'readonly' } as const;
