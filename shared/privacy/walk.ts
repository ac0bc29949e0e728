/**
 * Reading a person's rows table by table, as the data map declares them: identifiers come from the map (checked
 * to be plain SQL names), values are always bound parameters, and rows are read in keyset batches so a long
 * history never sits in memory at once.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import type { TableSpec } from './data-map.ts';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** A map identifier quoted for SQL. @throws Error for a name that is not a plain identifier (a map bug). */
export function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`Not a plain SQL identifier in the data map: ${name}`);
  return `"${name}"`;
}

/** The column that addresses a row (sealed values are bound to it). */
export function rowIdColumn(spec: TableSpec): string {
  return spec.primaryKey ?? 'id';
}

/** The unique, ordered column batches are read by. */
export function orderColumnOf(spec: TableSpec): string {
  return spec.orderColumn ?? rowIdColumn(spec);
}

export type Row = Record<string, unknown>;

/** Rows of a raw query on PGlite or node-postgres. */
export function rowsOf(result: unknown): Row[] {
  return (result as { rows: Row[] }).rows;
}

/**
 * Yields the person's rows of one table in batches of `batchSize`, ordered by the table's order column.
 * @example for await (const batch of subjectRows(db, 'audit_log', spec, userId, 1000)) write(batch)
 */
export async function* subjectRows(
  db: Db,
  table: string,
  spec: TableSpec,
  userId: string,
  batchSize: number,
): AsyncGenerator<Row[]> {
  if (spec.subjectColumn === null) return;
  const order = orderColumnOf(spec);
  const columns = [...new Set([...Object.keys(spec.columns), rowIdColumn(spec), order])].map(ident).join(', ');
  let cursor: unknown;
  for (;;) {
    const query = sql.raw(`select ${columns} from ${ident(table)} where ${ident(spec.subjectColumn)} = `);
    query.append(sql`${userId}`);
    if (cursor !== undefined) {
      query.append(sql.raw(` and ${ident(order)} > `));
      query.append(sql`${cursor}`);
    }
    query.append(sql.raw(` order by ${ident(order)} limit ${Math.max(1, Math.floor(batchSize))}`));
    const rows = rowsOf(await db.execute(query));
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < batchSize) return;
    cursor = rows[rows.length - 1]?.[order];
    if (cursor instanceof Date) cursor = cursor.toISOString();
  }
}

/** Bytes of a bytea value from either driver. */
export function bytesOf(value: unknown): Buffer | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  return null;
}
