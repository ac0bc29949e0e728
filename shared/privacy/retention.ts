/**
 * Retention: applies each column's retention rule from the data map, table by table, in bounded batches.
 * Expired rows are deleted (or expired values cleared) once they are older than the rule's days; a restricted
 * person's data is left alone (GDPR Art. 18(1)(c): they may need it for a legal claim). Every run is bounded
 * (`maxRows`) and resumable (the next run carries on); a dry run counts what would go and changes nothing.
 * The audit trail prunes itself (shared/audit/retention.ts): its tables are skipped here.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { type DataMap, dataMap, type TableSpec } from './data-map.ts';
import { ident, rowsOf } from './walk.ts';

export const RETENTION_BATCH_SIZE = 1_000;
/** Most rows one run changes; the rest wait for the next run. */
export const RETENTION_MAX_ROWS_PER_RUN = 100_000;

export interface RetentionRuleResolved {
  table: string;
  action: 'delete' | 'set_null';
  columns: string[];
  days: number;
  /** The timestamp column the days count from. */
  clock: string;
}

/** The rules the map implies, derived per table. */
export function retentionRules(map: DataMap = dataMap): RetentionRuleResolved[] {
  const rules: RetentionRuleResolved[] = [];
  for (const [table, spec] of Object.entries(map)) {
    if ((spec.store ?? 'data') !== 'data' || spec.retentionBy === 'audit') continue;
    const clock = spec.retentionColumn ?? 'created_at';
    if (!spec.columns[clock]) continue;
    const timed = Object.entries(spec.columns).filter(
      ([, column]) =>
        (column.retention.from === 'created' || column.retention.from === 'last_activity') &&
        column.retention.days !== null &&
        column.retention.days > 0,
    );
    const rowDays = timed
      .filter(([, column]) => column.erasure === 'delete_row' || column.erasure === 'keep')
      .map(([, column]) => column.retention.days as number);
    if (rowDays.length > 0) {
      rules.push({ table, action: 'delete', columns: [], days: Math.min(...rowDays), clock });
    }
    const byDays = new Map<number, string[]>();
    for (const [name, column] of timed) {
      if (column.erasure !== 'set_null' && column.erasure !== 'pseudonymise') continue;
      const days = column.retention.days as number;
      byDays.set(days, [...(byDays.get(days) ?? []), name]);
    }
    for (const [days, columns] of byDays) rules.push({ table, action: 'set_null', columns, days, clock });
  }
  return rules;
}

export interface RetentionReport {
  dryRun: boolean;
  startedAt: string;
  results: (RetentionRuleResolved & { cutoff: string; rows: number })[];
  total: number;
  /** False when the run stopped at `maxRows`: the next run continues. */
  complete: boolean;
}

/** The WHERE clause selecting expired rows of a rule (restricted people's rows excluded). */
function expiredWhere(rule: RetentionRuleResolved, spec: TableSpec, cutoff: Date) {
  const where = sql.raw(`${ident(rule.clock)} < `);
  where.append(sql`${cutoff.toISOString()}`);
  if (rule.action === 'set_null') {
    where.append(sql.raw(` and (${rule.columns.map((column) => `${ident(column)} is not null`).join(' or ')})`));
  }
  if (spec.subjectColumn !== null) {
    where.append(
      sql.raw(
        ` and not exists (select 1 from "privacy_settings" s where s."user_id" = ${ident(rule.table)}.${ident(spec.subjectColumn)} and s."restricted_at" is not null)`,
      ),
    );
  }
  return where;
}

/**
 * Applies (or with `dryRun`, counts) every retention rule.
 * @example const report = await applyRetention({ db, dryRun: true });
 */
export async function applyRetention(options: {
  db: Db;
  dryRun?: boolean;
  now?: Date;
  map?: DataMap;
  batchSize?: number;
  maxRows?: number;
}): Promise<RetentionReport> {
  const { db } = options;
  const map = options.map ?? dataMap;
  const now = options.now ?? new Date();
  const dryRun = options.dryRun ?? false;
  const batchSize = options.batchSize ?? RETENTION_BATCH_SIZE;
  let budget = options.maxRows ?? RETENTION_MAX_ROWS_PER_RUN;
  const results: RetentionReport['results'] = [];
  let complete = true;
  for (const rule of retentionRules(map)) {
    const spec = map[rule.table] as TableSpec;
    const cutoff = new Date(now.getTime() - rule.days * 86_400_000);
    const where = expiredWhere(rule, spec, cutoff);
    let rows = 0;
    if (dryRun) {
      const query = sql.raw(`select count(*)::int as n from ${ident(rule.table)} where `);
      query.append(where);
      rows = Number(rowsOf(await db.execute(query))[0]?.n ?? 0);
    } else {
      while (budget > 0) {
        const limit = Math.min(batchSize, budget);
        // ctid = any(array(...)): a TID scan per batch, so each batch costs its own rows, not the table's.
        const query =
          rule.action === 'delete'
            ? sql.raw(
                `delete from ${ident(rule.table)} where ctid = any(array(select ctid from ${ident(rule.table)} where `,
              )
            : sql.raw(
                `update ${ident(rule.table)} set ${rule.columns.map((column) => `${ident(column)} = null`).join(', ')} where ctid = any(array(select ctid from ${ident(rule.table)} where `,
              );
        query.append(where);
        query.append(sql.raw(` limit ${limit})) returning 1 as changed`));
        const changed = rowsOf(await db.execute(query)).length;
        rows += changed;
        budget -= changed;
        if (changed < limit) break;
      }
      if (budget <= 0) complete = false;
    }
    results.push({ ...rule, cutoff: cutoff.toISOString(), rows });
  }
  return {
    dryRun,
    startedAt: now.toISOString(),
    results,
    total: results.reduce((sum, result) => sum + result.rows, 0),
    complete,
  };
}
