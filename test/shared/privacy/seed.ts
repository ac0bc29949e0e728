/**
 * Seeds one person with data in EVERY table of the live schema. Each table needs an entry in SEEDS: a table
 * without one makes seeding fail loudly, so a new table cannot slip past the export and erasure coverage tests.
 * Columns are filled generically from their SQL type (personal text gets a unique marker, sealed columns a
 * marker sealed with the person's key); an entry only overrides what a check constraint or foreign key needs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { AuditLog } from '#shared/audit/index.ts';
import { createAuditCheckpoint, deriveAuditSigningKey } from '#shared/audit/index.ts';
import type { UserKeys } from '#shared/crypto/user-keys.ts';
import type { Db } from '#shared/db/index.ts';
import { bindUserIdentity, deriveTelegramIdIndexKey, upsertTelegramUser } from '#shared/identity/users.ts';
import { type DataMap, dataMap } from '#shared/privacy/data-map.ts';

export interface SeedContext {
  db: Db;
  userKeys: UserKeys;
  audit: AuditLog;
  masterKey: Buffer;
  userId: string;
  telegramId: number;
  /** What was stored per table and column (plaintext, for sealed columns). */
  stored: Record<string, Record<string, unknown>>;
}

type Overrides = (ctx: SeedContext, row: { id: string }) => Record<string, unknown> | Promise<Record<string, unknown>>;
type TableSeed = { overrides?: Overrides } | { custom: (ctx: SeedContext) => Promise<void> };

const hex64 = () => randomBytes(32).toString('hex');

/** One entry per table. Add yours when you add a table (the coverage test names the missing one). */
export const SEEDS: Record<string, TableSeed> = {
  users: { custom: async () => {} }, // created first, by seedEverything
  crypto_keys: { custom: async () => {} }, // the key ring creates its first key at start
  audit_log: {
    custom: async (ctx) => {
      const marker = `pii-audit-details-${randomUUID()}`;
      await ctx.audit.record({
        actor: { type: 'user', id: ctx.userId },
        action: 'privacy.seeded',
        target: { type: 'user', id: ctx.userId },
        result: 'failure',
        reasonCode: 'SEEDED',
        requestId: 'seed-1',
        source: 'api',
        ip: '198.51.100.23',
        details: { note: marker },
      });
      ctx.stored.audit_log = { details: { note: marker } };
    },
  },
  audit_checkpoints: {
    custom: async (ctx) => {
      await createAuditCheckpoint(ctx.db, { signingKey: deriveAuditSigningKey(ctx.masterKey) });
    },
  },
  api_keys: {
    overrides: () => ({
      key_hash: hex64(),
      display_prefix: 'tsp_ab…yz',
      scopes: sql`array['profile:read']::text[]`,
      expires_at: new Date(Date.now() + 86_400_000),
      last_used_ip: '198.51.100.0/24',
      replaced_by_id: null,
    }),
  },
  consent_records: { overrides: () => ({ purpose_id: 'analytics', method: 'bot' }) },
  privacy_requests: {
    overrides: () => ({
      kind: 'access',
      status: 'completed',
      extension_reason: 'Seeded extension reason',
      failure_code: 'SEEDED',
      progress: 100,
    }),
  },
  privacy_erasure_steps: { overrides: () => ({ request_id: randomUUID() }) },
  privacy_settings: { overrides: () => ({ objected_purposes: sql`array['security_tips']::text[]` }) },
  usage_counters: { overrides: () => ({ event: 'command.help', day: new Date().toISOString().slice(0, 10) }) },
  oauth_links: { overrides: () => ({ provider: 'github', subject_index: hex64() }) },
  mfa_factors: { overrides: () => ({ status: 'active' }) },
  mfa_backup_codes: { overrides: () => ({ code_hash: hex64() }) },
  mfa_resets: {
    overrides: () => ({ status: 'pending', requested_at: new Date(), effective_at: new Date(Date.now() + 86_400_000) }),
  },
  scan_runs: { overrides: () => ({ status: 'completed', trigger: 'api', error_code: 'SEEDED' }) },
  scan_findings: {
    overrides: async (ctx) => {
      const result = await ctx.db.execute(sql`select id from scan_runs limit 1`);
      const scanId = (result as unknown as { rows: { id: string }[] }).rows[0]?.id;
      return {
        fingerprint: hex64(),
        kind: 'config',
        severity: 'low',
        opened_scan_id: scanId,
        last_scan_id: scanId,
      };
    },
  },
  role_grants: { overrides: () => ({ role: 'admin', status: 'pending', decided_by: randomUUID() }) },
  defense_decisions: {
    overrides: () => ({
      kind: 'throttle',
      scope: 'user',
      target_hash: randomBytes(16).toString('hex'),
      match_hashes: sql`array[]::text[]`,
      expires_at: new Date(Date.now() + 86_400_000),
    }),
  },
};

interface LiveColumn {
  table_name: string;
  column_name: string;
  data_type: string;
  udt_name: string;
}

/** The live schema: tables in creation order of their first migration, columns in order. */
export async function liveColumns(db: Db): Promise<Map<string, LiveColumn[]>> {
  const result = await db.execute(
    sql`select table_name, column_name, data_type, udt_name from information_schema.columns
        where table_schema = 'public' order by table_name, ordinal_position`,
  );
  const tables = new Map<string, LiveColumn[]>();
  for (const row of (result as unknown as { rows: LiveColumn[] }).rows) {
    tables.set(row.table_name, [...(tables.get(row.table_name) ?? []), row]);
  }
  return tables;
}

/** A value of the column's SQL type; personal text is a unique marker the scans look for. */
async function genericValue(
  ctx: SeedContext,
  map: DataMap,
  table: string,
  column: LiveColumn,
  rowId: string,
): Promise<unknown> {
  const spec = map[table];
  const columnSpec = spec?.columns[column.column_name];
  if (spec?.subjectColumn === column.column_name) return ctx.userId;
  if (column.column_name === (spec?.primaryKey ?? 'id')) return rowId;
  const marker = `pii-${table}-${column.column_name}-${randomUUID()}`.replace(/_/g, '-');
  switch (column.udt_name) {
    case 'uuid':
      return ctx.userId; // foreign keys to users hold; others are overridden
    case 'text':
    case 'varchar':
      return marker;
    case 'bytea':
      if (columnSpec?.encrypted && columnSpec.keyScope === 'user') {
        ctx.stored[table] = { ...ctx.stored[table], [`${column.column_name}:plain`]: marker };
        return ctx.userKeys.sealForUser(ctx.userId, marker, { table, column: column.column_name, rowId });
      }
      return randomBytes(32);
    case 'bool':
      return true;
    case 'int8':
    case 'numeric':
      // A personal identifier stored as a number is the Telegram id (the only one people have): seeded with the
      // person's own, so the dump scans catch any table that keeps it in clear.
      return columnSpec?.personal && columnSpec.category === 'identifiers' ? ctx.telegramId : 1;
    case 'int2':
    case 'int4':
      return 1;
    case 'timestamptz':
    case 'timestamp':
      return new Date();
    case 'date':
      return new Date().toISOString().slice(0, 10);
    case '_text':
      return sql`array[${marker}]::text[]`;
    case 'jsonb':
    case 'json':
      return JSON.stringify({ marker });
    default:
      throw new Error(
        `seed: no generic value for ${table}.${column.column_name} (${column.udt_name}); add an override`,
      );
  }
}

/**
 * Creates the person and one row in every table.
 * @throws Error naming a table that has no entry in SEEDS.
 */
export async function seedEverything(
  base: Omit<SeedContext, 'stored' | 'userId'> & { map?: DataMap },
): Promise<SeedContext> {
  const map = base.map ?? dataMap;
  // As the bot registers a person: the Telegram id stored as a blind index and sealed with their data key.
  bindUserIdentity(base.db, { indexKey: deriveTelegramIdIndexKey(base.masterKey), cipher: base.userKeys });
  const { user } = await upsertTelegramUser(base.db, {
    telegramId: base.telegramId,
    languageCode: 'pt-br',
    adminTelegramIds: [],
  });
  const userId = user.id;
  const ctx: SeedContext = { ...base, userId, stored: {} };
  const userRow = (
    (await base.db.execute(sql`select * from users where id = ${userId}`)) as unknown as {
      rows: Record<string, unknown>[];
    }
  ).rows[0];
  // The export opens the sealed id (and reads it as the number it is).
  ctx.stored.users = { ...userRow, 'telegram_id_sealed:plain': base.telegramId };
  const live = await liveColumns(base.db);
  const missing = [...live.keys()].filter((table) => !SEEDS[table]);
  if (missing.length > 0) {
    throw new Error(
      `seed: no seed for table(s) ${missing.join(', ')}: add an entry to SEEDS in test/shared/privacy/seed.ts`,
    );
  }
  // Parents before children (scan_runs before scan_findings); the checkpoint signs the audit head, so it goes last.
  const LAST = ['scan_findings', 'audit_checkpoints'];
  const order = [...live.keys()].sort((a, b) => LAST.indexOf(a) - LAST.indexOf(b));
  for (const table of order) {
    const seed = SEEDS[table] as TableSeed;
    if ('custom' in seed) {
      await seed.custom(ctx);
      continue;
    }
    const columns = live.get(table) ?? [];
    const spec = map[table];
    const rowId = spec?.primaryKey && spec.primaryKey === spec.subjectColumn ? userId : randomUUID();
    const overrides = (await seed.overrides?.(ctx, { id: rowId })) ?? {};
    const values: Record<string, unknown> = {};
    for (const column of columns) {
      values[column.column_name] =
        column.column_name in overrides
          ? overrides[column.column_name]
          : await genericValue(ctx, map, table, column, rowId);
    }
    const names = Object.keys(values);
    const query = sql.raw(`insert into "${table}" (${names.map((name) => `"${name}"`).join(', ')}) values (`);
    query.append(
      sql.join(
        names.map((name) => {
          const value = values[name];
          return value !== null && typeof value === 'object' && 'queryChunks' in (value as object)
            ? (value as ReturnType<typeof sql>)
            : sql`${value}`;
        }),
        sql.raw(', '),
      ),
    );
    query.append(sql.raw(')'));
    await base.db.execute(query);
    ctx.stored[table] = { ...ctx.stored[table], ...values };
  }
  return ctx;
}

/** Every row of every table as text (what a plain dump would show). */
export async function dumpAsText(db: Db): Promise<string> {
  const live = await liveColumns(db);
  const parts: string[] = [];
  for (const table of live.keys()) {
    const result = await db.execute(sql.raw(`select t::text as line from "${table}" t`));
    for (const row of (result as unknown as { rows: { line: string }[] }).rows) parts.push(`${table}: ${row.line}`);
  }
  return parts.join('\n');
}
