/**
 * Telling a person something in Telegram from anywhere (API, workers): a job on the `notify` queue, carrying
 * ids only; the worker role renders the text in the person's language and sends it through the Bot API.
 */
import type { DefenseNotice } from '#shared/defense/index.ts';
import type { RoleGrantNotice } from '#shared/identity/role-grants.ts';
import type { MfaNotice } from '#shared/mfa/index.ts';
import type { PrivacyNotice } from '#shared/privacy/service.ts';

export type NotifyJob =
  | { kind: 'refresh-reuse'; userId: string }
  | { kind: 'role-changed'; userId: string; role: 'admin' | 'user' | 'readonly' }
  | { kind: 'api-key-created'; userId: string; keyId: string }
  | { kind: 'api-key-rotated'; userId: string; keyId: string }
  | { kind: 'api-key-revoked'; userId: string; keyId: string }
  // A provider account was linked or unlinked (shared/oauth); the provider id only, never the account.
  | { kind: 'oauth-linked'; userId: string; provider: 'google' | 'github' | 'discord' }
  | { kind: 'oauth-unlinked'; userId: string; provider: 'google' | 'github' | 'discord' }
  // Two-factor events (shared/mfa): enabled, disabled, locked after wrong codes, codes renewed, admin reset.
  | MfaNotice
  // Intrusion detection (shared/defense): admin alerts with lift/extend buttons, and the targeted person's notice.
  | DefenseNotice
  // A scan opened high or critical findings (shared/scanner): sent to every admin; counts only.
  | { kind: 'scan-findings'; userId: string; scanId: string; critical: number; high: number }
  // Privacy (shared/privacy): a deadline extended (Art. 12(3)), an erasure scheduled or cancelled, a tip.
  | PrivacyNotice
  // The two-person rule (shared/identity/role-grants.ts): a request to every admin, then its outcome.
  | RoleGrantNotice;

export type Notify = (job: NotifyJob) => Promise<void>;
