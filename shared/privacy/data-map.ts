/**
 * The personal-data map: one declaration of every column of every table — whether it is personal, its
 * category, purpose and legal basis, retention, how it is exported and erased, and whether it is encrypted.
 * Export, erasure, retention and the generated privacy policy all read this map; there is no second list.
 * A test introspects the live schema and fails on any undeclared column or any declared column that no
 * longer exists, so every migration must keep this file in step.
 */

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
}

export interface TableSpec {
  /** What one row is, for the privacy policy. */
  describes: string;
  /** The column holding the subject's user id (for export and erasure), or null for non-personal tables. */
  subjectColumn: string | null;
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
} satisfies Record<string, TableSpec>;

export type DataMap = Record<string, TableSpec>;

/** The map as a plain record (for code that walks every table). */
export const dataMap: DataMap = DATA_MAP;

/**
 * Checks the map against the live schema's columns.
 * @returns human-readable problems: undeclared tables/columns, declared ones that no longer exist, and
 *          inconsistent declarations (e.g. crypto-shred erasure on an unencrypted column). Empty when in step.
 */
export function checkDataMap(live: Record<string, readonly string[]>, map: DataMap = dataMap): string[] {
  const problems: string[] = [];
  for (const [table, columns] of Object.entries(live)) {
    const spec = map[table];
    if (!spec) {
      problems.push(`table ${table} is not declared in the data map`);
      continue;
    }
    for (const column of columns) {
      if (!spec.columns[column]) problems.push(`column ${table}.${column} is not declared in the data map`);
    }
  }
  for (const [table, spec] of Object.entries(map)) {
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
