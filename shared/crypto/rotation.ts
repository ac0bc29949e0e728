/**
 * Key rotation, step 3: after a new ring key is promoted, move everything still sealed under older keys to
 * it, in batches, resumably and idempotently (safe to run twice, or in several workers at once), then
 * report which old keys no longer protect anything and can be retired.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { fieldAad, readEnvelope } from './aead.ts';
import type { KeyRing } from './key-ring.ts';
import type { UserKeys } from './user-keys.ts';

/** A column sealed directly with ring keys (non-personal secrets), addressed by its table's primary key. */
export interface RingSealedColumn {
  table: string;
  column: string;
  idColumn: string;
}

export interface ReencryptProgress {
  phase: 'user-keys' | 'columns' | 'done';
  /** Index into the column list during the 'columns' phase. */
  columnIndex: number;
  cursor: string | undefined;
  moved: number;
}

export const INITIAL_PROGRESS: ReencryptProgress = { phase: 'user-keys', columnIndex: 0, cursor: undefined, moved: 0 };

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function quote(identifier: string): string {
  if (!IDENTIFIER.test(identifier)) throw new Error(`Bad SQL identifier ${identifier}`);
  return `"${identifier}"`;
}

/**
 * Re-encrypts one batch of a ring-sealed column: rows whose envelope names a key other than the primary.
 * The update is conditional on the old value, so concurrent runs never overwrite each other.
 */
export async function reencryptColumnBatch(
  db: Db,
  ring: KeyRing,
  target: RingSealedColumn,
  options: { batchSize: number; afterId?: string },
): Promise<{ moved: number; nextCursor: string | undefined; done: boolean }> {
  const primary = ring.primary();
  const table = quote(target.table);
  const column = quote(target.column);
  const id = quote(target.idColumn);
  // Bytes 2-5 of the envelope hold the key id (big-endian): filter in SQL, no need to read every row.
  const keyIdSql = `(get_byte(${column}, 1)::bigint << 24) + (get_byte(${column}, 2) << 16) + (get_byte(${column}, 3) << 8) + get_byte(${column}, 4)`;
  const after = options.afterId ? sql` and ${sql.raw(id)}::text > ${options.afterId}` : sql``;
  const result = await db.execute(
    sql`select ${sql.raw(id)}::text as id, ${sql.raw(column)} as value from ${sql.raw(table)}
        where ${sql.raw(column)} is not null and ${sql.raw(keyIdSql)} <> ${primary.id} ${after}
        order by ${sql.raw(id)}::text limit ${options.batchSize}`,
  );
  const rows = (result as unknown as { rows: { id: string; value: Uint8Array }[] }).rows;
  let moved = 0;
  for (const row of rows) {
    const old = Buffer.from(row.value);
    readEnvelope(old);
    const aad = fieldAad(target.table, target.column, row.id);
    const sealed = ring.seal(await ring.open(old, aad), aad);
    const updated = await db.execute(
      sql`update ${sql.raw(table)} set ${sql.raw(column)} = ${sealed}
          where ${sql.raw(id)}::text = ${row.id} and ${sql.raw(column)} = ${old}`,
    );
    moved += Number(
      (updated as unknown as { rowCount?: number; affectedRows?: number }).rowCount ??
        (updated as { affectedRows?: number }).affectedRows ??
        0,
    );
  }
  return { moved, nextCursor: rows.at(-1)?.id, done: rows.length < options.batchSize };
}

/**
 * Runs one step (one batch) of the whole re-encryption and returns the next progress value; call until
 * `phase === 'done'`. A crashed job resumes from the last progress it saved.
 */
export async function reencryptStep(
  deps: { db: Db; ring: KeyRing; userKeys: UserKeys; columns: readonly RingSealedColumn[] },
  progress: ReencryptProgress,
  batchSize: number,
): Promise<ReencryptProgress> {
  if (progress.phase === 'user-keys') {
    const batch = await deps.userKeys.rewrapBatch({
      batchSize,
      ...(progress.cursor ? { afterUserId: progress.cursor } : {}),
    });
    const moved = progress.moved + batch.rewrapped;
    return batch.done
      ? { phase: deps.columns.length > 0 ? 'columns' : 'done', columnIndex: 0, cursor: undefined, moved }
      : { ...progress, cursor: batch.nextCursor, moved };
  }
  if (progress.phase === 'columns') {
    const target = deps.columns[progress.columnIndex];
    if (!target) return { ...progress, phase: 'done' };
    const batch = await reencryptColumnBatch(deps.db, deps.ring, target, {
      batchSize,
      ...(progress.cursor ? { afterId: progress.cursor } : {}),
    });
    const moved = progress.moved + batch.moved;
    if (!batch.done) return { ...progress, cursor: batch.nextCursor, moved };
    const columnIndex = progress.columnIndex + 1;
    return columnIndex < deps.columns.length
      ? { phase: 'columns', columnIndex, cursor: undefined, moved }
      : { phase: 'done', columnIndex, cursor: undefined, moved };
  }
  return progress;
}

/** Non-primary ring keys that no data key and no ring-sealed value uses any more: safe to retire. */
export async function retirableKeys(deps: {
  db: Db;
  ring: KeyRing;
  userKeys: UserKeys;
  columns: readonly RingSealedColumn[];
}): Promise<number[]> {
  await deps.ring.reload();
  const inUse = new Set((await deps.userKeys.countByRingKey()).keys());
  for (const target of deps.columns) {
    const column = quote(target.column);
    const result = await deps.db.execute(
      sql`select distinct (get_byte(${sql.raw(column)}, 1)::bigint << 24) + (get_byte(${sql.raw(column)}, 2) << 16)
          + (get_byte(${sql.raw(column)}, 3) << 8) + get_byte(${sql.raw(column)}, 4) as key_id
          from ${sql.raw(quote(target.table))} where ${sql.raw(column)} is not null`,
    );
    for (const row of (result as unknown as { rows: { key_id: string | number }[] }).rows)
      inUse.add(Number(row.key_id));
  }
  return deps.ring
    .list()
    .filter((key) => key.status === 'active' && !inUse.has(key.id))
    .map((key) => key.id);
}
