/**
 * The personal-data map: one declaration of every column of every table — whether it is personal, its
 * category, purpose and legal basis, retention, how it is exported and erased, and whether it is encrypted.
 * Export, erasure, retention and the generated privacy policy all read this map; there is no second list.
 * A test introspects the live schema and fails on any undeclared column or any declared column that no
 * longer exists, so every migration must keep this file in step.
 */

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
        purpose: 'Recognise the person when they sign in with Telegram or message the bot.',
        legalBasis: 'contract',
        retention: KEEP_WHILE_ACCOUNT,
        export: 'plain',
        erasure: 'delete_row',
        encrypted: false,
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
