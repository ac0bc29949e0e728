/**
 * The personal-data map: one declaration of every column of every table — whether it is personal, its
 * category, purpose and legal basis, retention, how it is exported and erased, and whether it is encrypted.
 * Export, erasure, retention and the generated privacy policy all read this map; there is no second list.
 * A test introspects the live schema and fails on any undeclared column or any declared column that no
 * longer exists, so every migration must keep this file in step.
 */

import { createHash } from 'node:crypto';
import { AUDIT_RETENTION_DAYS } from '../audit/retention.ts';

/** GDPR Art. 6(1) bases this product relies on. */
export const LEGAL_BASES = ['contract', 'legitimate_interest', 'consent', 'legal_obligation'] as const;
export type LegalBasis = (typeof LEGAL_BASES)[number];

export const DATA_CATEGORIES = [
  'identifiers', // ids that single out a person (Telegram id, OAuth subject)
  'contact', // email, username
  'profile', // language, display preferences
  'security', // credentials, secrets, keys, MFA state
  'usage', // sessions, IPs, timestamps of activity
  'content', // what the person wrote or uploaded
  'consent', // consent records
  'system', // not personal: ids, bookkeeping
] as const;
export type DataCategory = (typeof DATA_CATEGORIES)[number];

/** How a column is handled when its subject asks for erasure (or retention expires). */
export const ERASURE_METHODS = [
  'delete_row', // the whole row goes
  'set_null', // the value is cleared, the row stays
  'pseudonymise', // replaced by a value that no longer identifies the person
  'crypto_shred', // sealed with the subject's data key; destroying the key erases every copy
  'keep', // kept (not personal, or a legal obligation says so; the reason is in `purpose`)
] as const;
export type ErasureMethod = (typeof ERASURE_METHODS)[number];

/** How a column appears in a data-subject export (GDPR Art. 15/20). */
export const EXPORT_METHODS = [
  'plain', // the value as stored
  'decrypted', // opened with the subject's data key
  'redacted', // present but masked (secrets: the person learns it exists, not its value)
  'omitted', // not exported (not about the person, or internal bookkeeping)
] as const;
export type ExportMethod = (typeof EXPORT_METHODS)[number];

export interface RetentionRule {
  /** Keep for this many days after `from`, then erase with the column's erasure method. */
  days: number | null;
  /** What the clock starts from: row creation, the subject's last activity, or account deletion. */
  from: 'created' | 'last_activity' | 'account_deleted' | 'not_applicable';
}

export interface ColumnSpec {
  personal: boolean;
  category: DataCategory;
  /** Why the product keeps it, in words a privacy policy can quote. */
  purpose: string;
  legalBasis: LegalBasis;
  retention: RetentionRule;
  export: ExportMethod;
  erasure: ErasureMethod;
  /** Sealed with field encryption (AEAD); `crypto_shred` erasure implies true. */
  encrypted: boolean;
  /**
   * Which key seals it, when encrypted: the subject's data key ('user', shreddable) or the key ring
   * ('ring', for non-personal secrets; re-encrypted by the rotation job).
   */
  keyScope?: 'user' | 'ring';
  /** The declared purpose (see PURPOSES) that processing this column serves, when it is an optional one. */
  purposeId?: string;
}

export interface TableSpec {
  /** What one row is, for the privacy policy. */
  describes: string;
  /** The column holding the subject's user id (for export and erasure), or null for non-personal tables. */
  subjectColumn: string | null;
  /** Primary-key column (default `id`), used to address rows when re-encrypting. */
  primaryKey?: string;
  /** Which database holds the table: the data (default) or the key store. */
  store?: 'data' | 'keystore';
  /** A unique, ordered column for reading a person's rows in batches (default: `primaryKey`, then `id`). */
  orderColumn?: string;
  /** The timestamp column retention counts from (default `created_at`). */
  retentionColumn?: string;
  /** Who applies retention: the privacy retention job (default) or the audit trail's own pruning. */
  retentionBy?: 'privacy' | 'audit';
  columns: Record<string, ColumnSpec>;
}

/** Builders keep declarations short and uniform. */
const system = (purpose: string): ColumnSpec => ({
  personal: false,
  category: 'system',
  purpose,
  legalBasis: 'legitimate_interest',
  retention: { days: null, from: 'not_applicable' },
  export: 'omitted',
  erasure: 'keep',
  encrypted: false,
});
const KEEP_WHILE_ACCOUNT: RetentionRule = { days: 0, from: 'account_deleted' };

/** Audit entries are kept unaltered for the retention period, then pruned whole (shared/audit/retention.ts). */
const AUDIT_RETENTION: RetentionRule = { days: AUDIT_RETENTION_DAYS, from: 'created' };
/**
 * A column of an audit entry about a person: kept as recorded even when they ask for erasure (GDPR
 * Art. 17(3)(e) and Recital 49: security logs); only the sealed details are erased, by crypto-shredding.
 */
const audited = (category: DataCategory, purpose: string): ColumnSpec => ({
  personal: true,
  category,
  purpose: `${purpose} Kept unaltered in the tamper-evident audit trail for ${AUDIT_RETENTION_DAYS} days.`,
  legalBasis: 'legitimate_interest',
  retention: AUDIT_RETENTION,
  export: 'plain',
  erasure: 'keep',
  encrypted: false,
});
const auditChain = (purpose: string): ColumnSpec => ({ ...system(purpose), retention: AUDIT_RETENTION });
/** A column of a person's API key: theirs, exported to them, gone with the key or the account. */
const apiKeyColumn = (category: DataCategory, purpose: string, exportAs: ExportMethod = 'plain'): ColumnSpec => ({
  personal: true,
  category,
  purpose,
  legalBasis: 'contract',
  retention: KEEP_WHILE_ACCOUNT,
  export: exportAs,
  erasure: 'delete_row',
  encrypted: false,
});

/** Decisions are kept this many days after issue (repeat-offence history, accountability), then deleted. */
export const DECISION_RETENTION_DAYS = 90;
/** A column of an intrusion-detection decision: security of the service (legitimate interest), kept 90 days. */
const defenseColumn = (category: DataCategory, purpose: string, exportAs: ExportMethod = 'plain'): ColumnSpec => ({
  personal: true,
  category,
  purpose,
  legalBasis: 'legitimate_interest',
  retention: { days: DECISION_RETENTION_DAYS, from: 'created' },
  export: exportAs,
  erasure: 'keep',
  encrypted: false,
});
/** Data subject requests are kept as proof of how they were handled (GDPR Art. 5(2)), then deleted. */
export const REQUEST_RETENTION_DAYS = 3 * 365;
/** Usage counters are deleted after this many days. */
export const ANALYTICS_RETENTION_DAYS = 90;
/** A consent decision: proof of consent (Art. 7(1)) while the account exists. */
const consentColumn = (category: DataCategory, purpose: string): ColumnSpec => ({
  personal: true,
  category,
  purpose,
  legalBasis: 'legal_obligation',
  retention: KEEP_WHILE_ACCOUNT,
  export: 'plain',
  erasure: 'delete_row',
  encrypted: false,
});
/** A data subject request: kept (even after erasure, under an id that leads to no one) as proof of handling. */
const requestColumn = (category: DataCategory, purpose: string): ColumnSpec => ({
  personal: true,
  category,
  purpose: `${purpose} Kept ${REQUEST_RETENTION_DAYS / 365} years as proof the request was handled.`,
  legalBasis: 'legal_obligation',
  retention: { days: REQUEST_RETENTION_DAYS, from: 'created' },
  export: 'plain',
  erasure: 'keep',
  encrypted: false,
});
const settingsColumn = (category: DataCategory, purpose: string): ColumnSpec => ({
  personal: true,
  category,
  purpose,
  legalBasis: 'legal_obligation',
  retention: KEEP_WHILE_ACCOUNT,
  export: 'plain',
  erasure: 'delete_row',
  encrypted: false,
});
const analyticsColumn = (category: DataCategory, purpose: string): ColumnSpec => ({
  personal: true,
  category,
  purpose,
  legalBasis: 'consent',
  retention: { days: ANALYTICS_RETENTION_DAYS, from: 'created' },
  export: 'plain',
  erasure: 'delete_row',
  encrypted: false,
  purposeId: 'analytics',
});

/**
 * Every table and column in the database, keyed by SQL names.
 * Drizzle's own `drizzle.__drizzle_migrations` bookkeeping lives outside the public schema and is not listed.
 */
export const DATA_MAP = {
  users: {
    describes: 'A person known to the product through their Telegram account.',
    subjectColumn: 'id',
    columns: {
      id: {
        personal: true,
        category: 'identifiers',
        purpose: 'Internal account id linking all of a person’s records.',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'plain',
        erasure: 'delete_row',
        encrypted: false,
      },
      telegram_id: {
        personal: true,
        category: 'identifiers',
        purpose:
          'The Telegram id in clear, only in accounts created before it was sealed; moved to the sealed form and ' +
          'cleared when the service starts.',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'plain',
        erasure: 'delete_row',
        encrypted: false,
      },
      telegram_id_hash: {
        personal: true,
        category: 'identifiers',
        purpose:
          'Recognise the person when they sign in with Telegram or message the bot, without storing their Telegram ' +
          'id: a keyed hash that cannot be reversed without the service’s master key.',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        // Says nothing to the person (the sealed column below exports the id itself).
        export: 'omitted',
        erasure: 'delete_row',
        encrypted: false,
      },
      telegram_id_sealed: {
        personal: true,
        category: 'identifiers',
        purpose: 'Send the person the messages they asked for (notices, exports, alerts) through the bot.',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'decrypted',
        erasure: 'crypto_shred',
        encrypted: true,
        keyScope: 'user',
      },
      role: {
        personal: true,
        category: 'security',
        purpose: 'Decide what the person may do (access control).',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'plain',
        erasure: 'delete_row',
        encrypted: false,
      },
      status: {
        personal: true,
        category: 'security',
        purpose: 'Know whether the account is active, blocked or being deleted.',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'plain',
        erasure: 'delete_row',
        encrypted: false,
      },
      language_code: {
        personal: true,
        category: 'profile',
        purpose: 'Answer in the person’s language.',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'plain',
        erasure: 'set_null',
        encrypted: false,
      },
      bot_blocked_at: {
        personal: true,
        category: 'usage',
        purpose: 'Stop messaging a person who blocked the bot (Telegram answers 403) until they write again.',
        legalBasis: 'legitimate_interest',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'plain',
        erasure: 'delete_row',
        encrypted: false,
      },
      created_at: {
        ...system('When the account was created.'),
        personal: true,
        category: 'usage',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'plain',
        erasure: 'delete_row',
      },
      updated_at: system('Row bookkeeping.'),
    },
  },
  crypto_keys: {
    describes: 'A data-encryption key of the key ring, sealed by the master key.',
    subjectColumn: null,
    columns: {
      id: system('Key id written into every value the key seals.'),
      status: system('Which key seals new data, which only opens old data, which is retired.'),
      wrapped_key: {
        ...system('The key itself, sealed by the master key (never stored in the clear).'),
        category: 'security',
      },
      master_fingerprint: system('Detects a wrong MASTER_KEY at start.'),
      created_at: system('Key bookkeeping.'),
      promoted_at: system('Key bookkeeping.'),
      retired_at: system('Key bookkeeping.'),
    },
  },
  user_keys: {
    describes: 'A person’s data key, in the separate key store; destroying it erases their sealed data everywhere.',
    subjectColumn: 'user_id',
    store: 'keystore',
    primaryKey: 'user_id',
    columns: {
      user_id: {
        personal: true,
        category: 'identifiers',
        purpose: 'Find the data key of the person it protects.',
        legalBasis: 'contract',
        retention: { days: null, from: 'not_applicable' },
        export: 'omitted',
        // The row stays as a tombstone (no key material) so nothing new is sealed for an erased person.
        erasure: 'keep',
        encrypted: false,
      },
      wrapped_key: {
        personal: true,
        category: 'security',
        purpose: 'The person’s data key, sealed by a key-ring key; erasing it is crypto-shredding.',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'omitted',
        erasure: 'set_null',
        encrypted: false,
      },
      ring_key_id: system('Which ring key seals the data key.'),
      created_at: system('Key bookkeeping.'),
      shredded_at: system('When the key was destroyed (proof of erasure).'),
    },
  },
  audit_log: {
    describes:
      'One security-relevant action (a sign-in or its failure, an MFA or role change, a key created, an admin ' +
      'action, a data request, a security event) in the tamper-evident audit trail.',
    subjectColumn: 'subject_user_id',
    // No primaryKey override: `id` (not `seq`) is the row id the sealed details are bound to.
    orderColumn: 'seq',
    retentionBy: 'audit',
    columns: {
      seq: auditChain('Position in the hash chain; gapless, so a removed entry shows.'),
      id: auditChain('Entry id; binds the sealed details to this entry.'),
      occurred_at: audited('usage', 'When the action happened.'),
      actor_type: audited('security', 'Whether a person, an API key or the system acted.'),
      actor_id: {
        ...audited('identifiers', 'Who acted: an account id, an API key id or a system component.'),
        // When an admin acted on the person, the admin's id is not the person's data to receive.
        export: 'omitted',
      },
      action: audited('security', 'What was done (e.g. auth.login, mfa.totp_enabled).'),
      target_type: audited('security', 'What kind of thing the action was done to.'),
      target_id: audited('identifiers', 'Which thing the action was done to (an opaque id).'),
      subject_user_id: audited('identifiers', 'The person the entry is about, so their export and erasure find it.'),
      result: audited('security', 'Whether the action succeeded, failed or was denied.'),
      reason_code: audited('security', 'Why it failed or was denied (a code, never free text).'),
      request_id: { ...audited('usage', 'Links the entry to the request that caused it.'), export: 'omitted' },
      source: audited('usage', 'Whether it came through the bot, the API or a worker.'),
      ip_prefix: audited(
        'usage',
        'The network the request came from (IPv4 /24, IPv6 /48; never the address) to spot attacks.',
      ),
      details: {
        personal: true,
        category: 'security',
        purpose: 'Personal details of the action, sealed with the person’s data key.',
        legalBasis: 'legitimate_interest',
        retention: AUDIT_RETENTION,
        export: 'decrypted',
        // The entry cannot change (append-only, hash-chained): destroying the key erases the details.
        erasure: 'crypto_shred',
        encrypted: true,
        keyScope: 'user',
      },
      prev_hash: auditChain('Hash of the previous entry: the link of the chain.'),
      hash: auditChain('Hash of this entry, over every other column: shows any alteration.'),
    },
  },
  audit_checkpoints: {
    describes: 'A signed statement of the audit trail’s head hash, which shows a rewritten trail.',
    subjectColumn: null,
    retentionBy: 'audit',
    columns: {
      seq: system('The entry the checkpoint vouches for.'),
      head_hash: system('The chain hash at that entry.'),
      key_id: system('Which signing key signed (RFC 7638 thumbprint).'),
      signature: system('Ed25519 signature by the deployment’s checkpoint key.'),
      created_at: system('When the checkpoint was signed.'),
    },
  },
  api_keys: {
    describes: 'An API key a person created for their own scripts and integrations (stored as a hash).',
    subjectColumn: 'user_id',
    columns: {
      id: apiKeyColumn('identifiers', 'Names the key in the owner’s list, the audit trail and its rate-limit counter.'),
      user_id: apiKeyColumn('identifiers', 'Whose key it is: it acts for this person only.'),
      name: apiKeyColumn('content', 'The owner’s own label for the key.'),
      key_hash: apiKeyColumn(
        'security',
        'SHA-256 of the key, to recognise it when presented; the key itself is never stored.',
        'redacted',
      ),
      display_prefix: apiKeyColumn(
        'security',
        'First and last characters of the key, so the owner can tell keys apart.',
      ),
      scopes: apiKeyColumn('security', 'What the key may do (within the owner’s role).'),
      rate_limit_per_minute: apiKeyColumn('security', 'How many requests a minute the key may make.'),
      created_at: apiKeyColumn('usage', 'When the key was created.'),
      expires_at: apiKeyColumn('security', 'When the key stops working.'),
      last_used_at: apiKeyColumn('usage', 'When the key was last used, so the owner can spot unused or misused keys.'),
      last_used_ip: {
        ...apiKeyColumn(
          'usage',
          'The network the key was last used from (IPv4 /24, IPv6 /48; never the address), to spot misuse.',
        ),
        legalBasis: 'legitimate_interest',
      },
      revoked_at: apiKeyColumn('security', 'When the owner revoked the key (it no longer works).'),
      replaced_by_id: apiKeyColumn('security', 'Rotation link to the key that replaced this one.'),
    },
  },
  consent_records: {
    describes: 'One grant or withdrawal of consent for one optional purpose, at one version of its text.',
    subjectColumn: 'user_id',
    columns: {
      id: consentColumn('identifiers', 'Names the decision.'),
      user_id: consentColumn('identifiers', 'Whose decision it is.'),
      purpose_id: consentColumn('consent', 'Which purpose the decision is about.'),
      purpose_version: consentColumn('consent', 'Which version of the purpose’s text the person saw.'),
      granted: consentColumn('consent', 'Whether consent was given or withdrawn.'),
      method: consentColumn('consent', 'Where the decision was made (bot, Mini App, API).'),
      receipt_id: consentColumn('consent', 'The id of the consent receipt sent to the person.'),
      created_at: consentColumn('consent', 'When the decision was made.'),
    },
  },
  privacy_requests: {
    describes: 'A request the person made about their data (access, erasure, rectification, restriction, objection).',
    subjectColumn: 'user_id',
    columns: {
      id: requestColumn('identifiers', 'Names the request.'),
      user_id: requestColumn('identifiers', 'Who made the request (an id that leads to no one after erasure).'),
      kind: requestColumn('content', 'What was asked for.'),
      status: requestColumn('content', 'Where the request stands.'),
      created_at: requestColumn('usage', 'When the request was received (the deadline counts from it).'),
      due_at: requestColumn('usage', 'The one-month deadline (GDPR Art. 12(3)).'),
      extended_until: requestColumn('usage', 'The extended deadline, when more time was needed.'),
      extension_reason: requestColumn('content', 'Why the deadline was extended (told to the person).'),
      effective_at: requestColumn('usage', 'When a requested erasure runs (after the grace period).'),
      progress: requestColumn('usage', 'How far an export has got.'),
      completed_at: requestColumn('usage', 'When the request was completed.'),
      failure_code: requestColumn('content', 'Why a request failed (a code).'),
      download_token_hash: {
        ...requestColumn('security', 'Hash of the short-lived export download link (the link is never stored).'),
        export: 'omitted',
        erasure: 'set_null',
      },
      download_expires_at: { ...requestColumn('security', 'When the download link stops working.'), export: 'omitted' },
      status_message_id: {
        ...requestColumn('usage', 'The chat message showing the export’s progress.'),
        export: 'omitted',
        erasure: 'set_null',
      },
    },
  },
  privacy_erasure_steps: {
    describes: 'Which parts of an erasure are done, so an interrupted erasure finishes where it stopped.',
    subjectColumn: null,
    orderColumn: 'completed_at',
    columns: {
      request_id: system('The erasure request.'),
      step: system('Which part (a table, or the data key).'),
      rows: system('How many rows the part changed.'),
      completed_at: {
        ...system('When the part was done.'),
        retention: { days: REQUEST_RETENTION_DAYS, from: 'created' },
      },
    },
    retentionColumn: 'completed_at',
  },
  privacy_settings: {
    describes: 'The person’s restriction of processing and their objections to optional purposes.',
    subjectColumn: 'user_id',
    primaryKey: 'user_id',
    columns: {
      user_id: settingsColumn('identifiers', 'Whose settings they are.'),
      restricted_at: settingsColumn('consent', 'Since when processing is restricted to storage (GDPR Art. 18).'),
      objected_purposes: settingsColumn('consent', 'Purposes the person objected to (GDPR Art. 21).'),
      updated_at: settingsColumn('consent', 'When the settings last changed.'),
    },
  },
  usage_counters: {
    describes: 'How often the person used a feature on a day (usage analytics, only with consent).',
    subjectColumn: 'user_id',
    columns: {
      id: analyticsColumn('identifiers', 'Names the counter.'),
      user_id: analyticsColumn('identifiers', 'Whose usage it counts.'),
      day: analyticsColumn('usage', 'The day counted.'),
      event: analyticsColumn('usage', 'Which feature was used (e.g. command.help).'),
      count: analyticsColumn('usage', 'How many times.'),
      created_at: analyticsColumn('usage', 'When the counter started.'),
    },
  },
  oauth_links: {
    describes: 'A Google, GitHub or Discord account the person linked to their Telegram account.',
    subjectColumn: 'user_id',
    columns: {
      id: apiKeyColumn('identifiers', 'Names the link (the sealed fields are bound to it).'),
      user_id: apiKeyColumn('identifiers', 'Whose linked account it is.'),
      provider: apiKeyColumn('identifiers', 'Which provider the linked account is at.'),
      subject_index: apiKeyColumn(
        'identifiers',
        'Keyed hash of the provider’s account id, so one provider account links to one person only and can ' +
          'sign in; the id itself is not stored.',
        'redacted',
      ),
      display_name: {
        ...apiKeyColumn('contact', 'The account’s name at the provider, shown in the person’s linked accounts.'),
        export: 'decrypted',
        erasure: 'crypto_shred',
        encrypted: true,
        keyScope: 'user',
      },
      email: {
        ...apiKeyColumn('contact', 'The account’s email at the provider, shown in the person’s linked accounts.'),
        export: 'decrypted',
        erasure: 'crypto_shred',
        encrypted: true,
        keyScope: 'user',
      },
      email_verified: apiKeyColumn('contact', 'Whether the provider verified that email.'),
      linked_at: apiKeyColumn('usage', 'When the account was linked.'),
    },
  },
  mfa_factors: {
    describes: 'A person’s authenticator-app (TOTP) factor for two-factor sign-in.',
    subjectColumn: 'user_id',
    primaryKey: 'user_id',
    columns: {
      user_id: apiKeyColumn('identifiers', 'Whose factor it is.'),
      status: apiKeyColumn('security', 'Whether set-up is finished (pending or active).'),
      secret: {
        ...apiKeyColumn('security', 'The shared secret the authenticator app and the server compute codes from.'),
        // The person learns a factor exists; the secret itself is never handed out again.
        export: 'redacted',
        erasure: 'crypto_shred',
        encrypted: true,
        keyScope: 'user',
      },
      created_at: apiKeyColumn('usage', 'When set-up started.'),
      enabled_at: apiKeyColumn('security', 'When two-factor sign-in was switched on.'),
      last_used_step: apiKeyColumn('security', 'The last code’s time step, so a code cannot be used twice.'),
    },
  },
  mfa_backup_codes: {
    describes: 'A single-use backup code for two-factor sign-in (stored as a keyed hash).',
    subjectColumn: 'user_id',
    columns: {
      id: apiKeyColumn('identifiers', 'Names the code.'),
      user_id: apiKeyColumn('identifiers', 'Whose code it is.'),
      code_hash: apiKeyColumn(
        'security',
        'Keyed hash of the code, to recognise it when used; the code itself is never stored.',
        'redacted',
      ),
      created_at: apiKeyColumn('usage', 'When the code was issued.'),
      used_at: apiKeyColumn('usage', 'When the code was used (each works once).'),
    },
  },
  mfa_resets: {
    describes: 'An admin-requested removal of a person’s two-factor factor, which waits 24 hours and can be cancelled.',
    subjectColumn: 'user_id',
    columns: {
      id: apiKeyColumn('identifiers', 'Names the reset in the audit trail.'),
      user_id: apiKeyColumn('identifiers', 'Whose factor is to be removed.'),
      requested_by: {
        ...apiKeyColumn('identifiers', 'The admin who asked for the reset (accountability).'),
        legalBasis: 'legitimate_interest',
      },
      status: apiKeyColumn('security', 'Pending, cancelled or completed.'),
      requested_at: apiKeyColumn('usage', 'When the reset was asked for.'),
      effective_at: apiKeyColumn('security', 'When the reset takes effect unless cancelled.'),
      closed_at: apiKeyColumn('usage', 'When it was cancelled or completed.'),
    },
  },
  role_grants: {
    describes: 'A request to make a person an admin, which a second admin must approve within 24 hours.',
    subjectColumn: 'target_user_id',
    columns: {
      id: apiKeyColumn('identifiers', 'Names the request in announcements and the audit trail.'),
      target_user_id: apiKeyColumn('identifiers', 'Who would become an admin.'),
      role: apiKeyColumn('security', 'The role asked for.'),
      requested_by: {
        ...apiKeyColumn('identifiers', 'The admin who asked (accountability, the two-person rule).'),
        legalBasis: 'legitimate_interest',
      },
      status: apiKeyColumn('security', 'Pending, approved, rejected or expired.'),
      decided_by: {
        ...apiKeyColumn('identifiers', 'The second admin who approved or rejected it (accountability).'),
        legalBasis: 'legitimate_interest',
      },
      created_at: apiKeyColumn('usage', 'When it was asked for.'),
      expires_at: apiKeyColumn('security', 'When it lapses unless approved.'),
      decided_at: apiKeyColumn('usage', 'When it was approved or rejected.'),
    },
  },
  scan_runs: {
    describes: 'One run of the vulnerability scanner (about the deployment, never about a person).',
    subjectColumn: null,
    columns: {
      id: system('Names the scan in reports and findings.'),
      status: system('Running, completed or failed.'),
      trigger: system('Whether the daily schedule, the bot or the API started it.'),
      started_at: system('When the scan started.'),
      finished_at: system('When the scan finished.'),
      critical: system('Open critical findings after the scan.'),
      high: system('Open high findings after the scan.'),
      medium: system('Open medium findings after the scan.'),
      low: system('Open low findings after the scan.'),
      new_count: system('Findings this scan opened.'),
      resolved_count: system('Findings this scan resolved.'),
      packages_checked: system('How many installed packages were checked.'),
      advisories_loaded: system('How many advisories the check used.'),
      advisories_updated_at: system('How current the advisory data was.'),
      error_code: system('Why a scan failed (a code).'),
    },
  },
  scan_findings: {
    describes: 'A vulnerability or misconfiguration the scanner found in the deployment.',
    subjectColumn: null,
    columns: {
      id: system('Names the finding in reports.'),
      fingerprint: system('Recognises the same finding across scans.'),
      kind: system('Dependency, configuration or HTTP header finding.'),
      rule: system('The advisory or check that produced it.'),
      severity: system('Critical, high, medium or low.'),
      title: system('What was found (a package, setting or header; never personal data).'),
      detail: system('What it means and how to fix it.'),
      first_seen_at: system('When it was first seen.'),
      last_seen_at: system('When it was last seen.'),
      opened_scan_id: system('The scan that opened it.'),
      last_scan_id: system('The latest scan that saw it.'),
      resolved_at: system('When a scan no longer found it.'),
    },
  },
  defense_decisions: {
    describes:
      'An intrusion-detection decision (ban, throttle or second-factor lockout) on an account, API key, network or chat.',
    subjectColumn: 'subject_user_id',
    columns: {
      id: system('Names the decision in lists, alerts and the audit trail.'),
      scenario: system('The detection scenario (or an admin) that issued it.'),
      scope: system('What kind of target it applies to.'),
      kind: system('Ban, throttle or second-factor lockout.'),
      target_hash: defenseColumn(
        'identifiers',
        'A keyed hash of the target (account, address or chat), to match requests and count repeat offences without storing the value.',
        'omitted',
      ),
      match_hashes: defenseColumn(
        'identifiers',
        'Keyed hashes of the target and its other identities, matched at every edge.',
        'omitted',
      ),
      target_label: defenseColumn(
        'identifiers',
        'A masked label of the target (an address with its last part hidden, a shortened id) for admins.',
      ),
      subject_user_id: {
        ...defenseColumn('identifiers', 'The person the decision is about, so they can see it and ask for a review.'),
        erasure: 'set_null',
      },
      reason: defenseColumn('security', 'Why it was issued (a code).'),
      automated: defenseColumn(
        'security',
        'Whether a scenario issued it without a person (GDPR Art. 22: the person may ask for a review).',
      ),
      offence_level: defenseColumn(
        'security',
        'How many earlier decisions the same target had (durations double for repeat offences).',
      ),
      created_by: {
        ...defenseColumn('identifiers', 'The admin who issued it by hand.'),
        export: 'omitted',
        erasure: 'set_null',
      },
      created_at: defenseColumn('usage', 'When it was issued.'),
      expires_at: defenseColumn('security', 'When it ends.'),
      lifted_at: defenseColumn('security', 'When an admin lifted it early.'),
      lifted_by: {
        ...defenseColumn('identifiers', 'The admin who lifted it.'),
        export: 'omitted',
        erasure: 'set_null',
      },
      review_requested_at: defenseColumn('security', 'When the person asked a human to review it.'),
    },
  },
} satisfies Record<string, TableSpec>;

export type DataMap = Record<string, TableSpec>;

/** The map as a plain record (for code that walks every table). */
export const dataMap: DataMap = DATA_MAP;

/**
 * Checks the map against the live schema's columns.
 * @returns human-readable problems: undeclared tables/columns, declared ones that no longer exist, and
 *          inconsistent declarations (e.g. crypto-shred erasure on an unencrypted column). Empty when in step.
 */
export function checkDataMap(
  live: Record<string, readonly string[]>,
  map: DataMap = dataMap,
  store: 'data' | 'keystore' = 'data',
): string[] {
  const problems: string[] = [];
  const tables: DataMap = Object.fromEntries(
    Object.entries(map).filter(([, spec]) => (spec.store ?? 'data') === store),
  );
  for (const [table, columns] of Object.entries(live)) {
    const spec = tables[table];
    if (!spec) {
      problems.push(`table ${table} is not declared in the data map`);
      continue;
    }
    for (const column of columns) {
      if (!spec.columns[column]) problems.push(`column ${table}.${column} is not declared in the data map`);
    }
  }
  for (const [table, spec] of Object.entries(tables)) {
    const columns = live[table];
    if (!columns) {
      problems.push(`table ${table} is declared in the data map but does not exist`);
      continue;
    }
    for (const column of Object.keys(spec.columns)) {
      if (!columns.includes(column)) problems.push(`column ${table}.${column} is declared but does not exist`);
    }
    if (spec.subjectColumn !== null && !columns.includes(spec.subjectColumn)) {
      problems.push(`table ${table}: subject column ${spec.subjectColumn} does not exist`);
    }
    for (const [column, columnSpec] of Object.entries(spec.columns)) {
      if (columnSpec.erasure === 'crypto_shred' && !columnSpec.encrypted) {
        problems.push(`column ${table}.${column}: crypto_shred erasure needs an encrypted column`);
      }
      if (columnSpec.encrypted && !columnSpec.keyScope) {
        problems.push(`column ${table}.${column}: an encrypted column must say which key seals it (keyScope)`);
      }
      if (columnSpec.erasure === 'crypto_shred' && columnSpec.keyScope !== 'user') {
        problems.push(`column ${table}.${column}: crypto_shred erasure needs the subject's data key (keyScope user)`);
      }
      if (columnSpec.personal && columnSpec.category === 'system') {
        problems.push(`column ${table}.${column}: personal data cannot be in the system category`);
      }
      if (!columnSpec.personal && columnSpec.export === 'decrypted') {
        problems.push(`column ${table}.${column}: only personal data is exported decrypted`);
      }
    }
  }
  return problems;
}

/** Columns sealed with ring keys, for the rotation job (derived from the map: no second list). */
export function ringSealedColumns(map: DataMap = dataMap): { table: string; column: string; idColumn: string }[] {
  return Object.entries(map).flatMap(([table, spec]) =>
    (spec.store ?? 'data') === 'data'
      ? Object.entries(spec.columns)
          .filter(([, column]) => column.encrypted && column.keyScope === 'ring')
          .map(([column]) => ({ table, column, idColumn: spec.primaryKey ?? 'id' }))
      : [],
  );
}

/** A reason the product processes personal data, as the person is told it (GDPR Arts. 6, 7, 13). */
export interface PurposeSpec {
  title: string;
  /** Plain-language text; its content hash is the purpose's version, so any change asks people again. */
  description: string;
  legalBasis: LegalBasis;
  /** Essential (contract or legitimate interest the product cannot work without): no choice, no objection. */
  required: boolean;
  /** Who receives data processed for it, beyond the controller. */
  recipients: readonly string[];
}

/**
 * Every purpose the product processes personal data for. Consent-based purposes are asked for one by one in the
 * bot (none pre-ticked); optional legitimate-interest purposes can be objected to (Art. 21).
 */
export const PURPOSES = {
  service: {
    title: 'Your account',
    description:
      'Recognise you when you use the bot or the app, keep your settings and API keys, and answer your requests.',
    legalBasis: 'contract',
    required: true,
    recipients: ['Telegram (delivers the bot’s messages)'],
  },
  security: {
    title: 'Security',
    description:
      'Protect your account and everyone else’s: sign-in checks, two-factor codes, rate limits and a tamper-evident log of security actions.',
    legalBasis: 'legitimate_interest',
    required: true,
    recipients: ['Telegram (delivers security alerts)'],
  },
  analytics: {
    title: 'Usage statistics',
    description:
      'Count which features you use each day, so we know what to improve. Counters are deleted after 90 days and never shared.',
    legalBasis: 'consent',
    required: false,
    recipients: [],
  },
  product_news: {
    title: 'Product news',
    description: 'Tell you about new features in this chat, at most once a month.',
    legalBasis: 'consent',
    required: false,
    recipients: ['Telegram (delivers the messages)'],
  },
  security_tips: {
    title: 'Security tips',
    description: 'Send you an occasional tip on keeping your accounts safe. You can object at any time.',
    legalBasis: 'legitimate_interest',
    required: false,
    recipients: ['Telegram (delivers the messages)'],
  },
} as const satisfies Record<string, PurposeSpec>;

export type PurposeId = keyof typeof PURPOSES;
export const PURPOSE_IDS = Object.keys(PURPOSES) as PurposeId[];

/** True when `value` names a declared purpose. */
export function isPurposeId(value: string): value is PurposeId {
  return Object.hasOwn(PURPOSES, value);
}

/** A purpose's version: the first 16 hex digits of SHA-256 over its text and legal basis. */
export function purposeVersion(id: PurposeId): string {
  const purpose: PurposeSpec = PURPOSES[id];
  return createHash('sha256')
    .update([id, purpose.title, purpose.description, purpose.legalBasis].join('\u0000'))
    .digest('hex')
    .slice(0, 16);
}

/** Purposes that need consent (asked in the bot, none pre-ticked). */
export const CONSENT_PURPOSES = PURPOSE_IDS.filter((id) => PURPOSES[id].legalBasis === 'consent');
/** Optional legitimate-interest purposes, which a person may object to. */
export const OBJECTABLE_PURPOSES = PURPOSE_IDS.filter(
  (id) => PURPOSES[id].legalBasis === 'legitimate_interest' && !PURPOSES[id].required,
);

/** The tables holding a person's rows in the data database, in erasure order (`users` last: others refer to it). */
export function subjectTables(map: DataMap = dataMap): [string, TableSpec][] {
  return Object.entries(map)
    .filter(([, spec]) => spec.subjectColumn !== null && (spec.store ?? 'data') === 'data')
    .sort(([a], [b]) => Number(a === 'users') - Number(b === 'users'));
}
