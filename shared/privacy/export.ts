/**
 * Access and portability (GDPR Arts. 15, 20): everything about a person, assembled by walking the data map (no
 * second list), streamed batch by batch to a JSON file plus a readable HTML summary, with the Art. 15 facts.
 * Sealed columns are opened with the person's key; secrets appear only as "[redacted]".
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { UserFieldCipher } from '../crypto/field-cipher.ts';
import type { Db } from '../db/index.ts';
import type { ControllerInfo } from './consent.ts';
import { type ColumnSpec, type DataMap, dataMap, subjectTables } from './data-map.ts';
import { art15Facts, buildPolicy, CATEGORY_TEXT } from './policy.ts';
import { bytesOf, type Row, rowIdColumn, subjectRows } from './walk.ts';

/** Rows read per query. */
export const EXPORT_BATCH_SIZE = 1_000;
/** Rows per table shown in the HTML summary (the JSON has them all). */
export const SUMMARY_ROWS_PER_TABLE = 25;
export const EXPORT_FORMAT = 'tsp-export-v1';

export interface ExportDeps {
  db: Db;
  cipher: UserFieldCipher;
  controller: ControllerInfo;
  /** Folder the files are written to (DATA_DIR/exports). */
  dir: string;
  map?: DataMap;
  batchSize?: number;
  now?: () => Date;
}

export interface ExportResult {
  jsonPath: string;
  htmlPath: string;
  /** Rows exported per table. */
  counts: Record<string, number>;
  bytes: number;
}

/** The exported value of one column, per its export method. */
async function exportValue(
  cipher: UserFieldCipher,
  userId: string,
  table: string,
  column: string,
  spec: ColumnSpec,
  row: Row,
  rowId: string,
): Promise<unknown> {
  const value = row[column];
  if (value === null || value === undefined) return null;
  if (spec.export === 'redacted') return '[redacted]';
  if (spec.export === 'decrypted') {
    const sealed = bytesOf(value);
    if (!sealed) return null;
    const plain = await cipher.openForUser(userId, sealed, { table, column, rowId });
    if (plain === null) return null;
    const text = plain.toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  const bytes = bytesOf(value);
  if (bytes) return `base64:${bytes.toString('base64')}`;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Writes with backpressure: waits for the stream to drain instead of buffering without bound. */
async function write(stream: WriteStream, chunk: string): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Exports everything about `userId` into `<dir>/<fileId>.json` and `.html`. Memory stays bounded by the batch
 * size whatever the history's length. Calls `onProgress` (0-100) after each table.
 */
export async function exportSubject(
  deps: ExportDeps,
  input: { userId: string; fileId: string; onProgress?: (percent: number, table: string) => Promise<void> | void },
): Promise<ExportResult> {
  const { userId } = input;
  const map = deps.map ?? dataMap;
  const batchSize = deps.batchSize ?? EXPORT_BATCH_SIZE;
  await mkdir(deps.dir, { recursive: true, mode: 0o700 });
  const jsonPath = join(deps.dir, `${input.fileId}.json`);
  const htmlPath = join(deps.dir, `${input.fileId}.html`);
  const partial = `${jsonPath}.partial`;
  // 0600: the file holds personal data; only the service account reads it.
  const out = createWriteStream(partial, { mode: 0o600 });
  const policy = buildPolicy(deps.controller, map);
  const generatedAt = (deps.now ?? (() => new Date()))();
  const tables = subjectTables(map);
  const counts: Record<string, number> = {};
  const samples: Record<string, Row[]> = {};
  try {
    await write(
      out,
      `{"format":${JSON.stringify(EXPORT_FORMAT)},"generatedAt":${JSON.stringify(generatedAt.toISOString())},` +
        `"subject":{"userId":${JSON.stringify(userId)}},"facts":${JSON.stringify(art15Facts(policy))},"data":{`,
    );
    let tableIndex = 0;
    for (const [table, spec] of tables) {
      const exported = Object.entries(spec.columns).filter(([, column]) => column.export !== 'omitted');
      await write(out, `${tableIndex === 0 ? '' : ','}${JSON.stringify(table)}:[`);
      let count = 0;
      const sample: Row[] = [];
      for await (const batch of subjectRows(deps.db, table, spec, userId, batchSize)) {
        let chunk = '';
        for (const row of batch) {
          const rowId = String(row[rowIdColumn(spec)]);
          const item: Row = {};
          for (const [column, columnSpec] of exported) {
            item[column] = await exportValue(deps.cipher, userId, table, column, columnSpec, row, rowId);
          }
          chunk += `${count === 0 ? '' : ','}${JSON.stringify(item)}`;
          if (sample.length < SUMMARY_ROWS_PER_TABLE) sample.push(item);
          count += 1;
        }
        await write(out, chunk);
      }
      await write(out, ']');
      counts[table] = count;
      samples[table] = sample;
      tableIndex += 1;
      await input.onProgress?.(Math.round((tableIndex / tables.length) * 95), table);
    }
    await write(out, '}}\n');
    out.end();
    await once(out, 'finish');
    await rename(partial, jsonPath);
  } catch (error) {
    // Destroyed while its file is still opening or a write is pending, the stream reports that afterwards
    // (ERR_STREAM_DESTROYED). The export has already failed: that report must not become an uncaught exception.
    out.on('error', () => {});
    out.destroy();
    await rm(partial, { force: true });
    throw error;
  }

  const e = escapeHtml;
  const facts = art15Facts(policy);
  const html = [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Your data · ${e(policy.controller.name)}</title></head><body><main>`,
    `<h1>Your data</h1><p>Exported ${e(generatedAt.toISOString())} for account ${e(userId)}. The JSON file has every record; this page summarises it.</p>`,
    '<h2>Why we process it</h2><ul>',
    ...facts.purposes.map((p) => `<li><strong>${e(p.title)}</strong>: ${e(p.description)} (${e(p.legalBasis)})</li>`),
    '</ul><h2>What we hold</h2><ul>',
    ...tables.map(([table, spec]) => `<li>${e(spec.describes)} <strong>${counts[table] ?? 0}</strong> record(s).</li>`),
    '</ul><h2>How long we keep it</h2><ul>',
    ...facts.retention.map((r) => `<li>${e(r.category)}: ${e(r.periods.join('; '))}</li>`),
    '</ul><h2>Who receives it</h2><ul>',
    ...facts.recipients.map((r) => `<li>${e(r)}</li>`),
    `</ul><h2>Where it comes from</h2><p>${e(facts.source)}</p>`,
    `<h2>Automated decisions</h2><p>${e(facts.automatedDecisions)}</p>`,
    '<h2>Your rights</h2><ul>',
    ...facts.rights.map((r) => `<li>${e(r)}</li>`),
    '</ul><h2>Records</h2>',
    ...tables.map(([table, spec]) => {
      const sample = samples[table] ?? [];
      if (sample.length === 0) return '';
      const columns = Object.keys(sample[0] ?? {});
      const category = (column: string) => CATEGORY_TEXT[spec.columns[column]?.category ?? 'system'];
      return `<h3>${e(table)}</h3><table><thead><tr>${columns
        .map((c) => `<th title="${e(category(c))}">${e(c)}</th>`)
        .join('')}</tr></thead><tbody>${sample
        .map((row) => `<tr>${columns.map((c) => `<td>${e(cell(row[c]))}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>${
        (counts[table] ?? 0) > sample.length
          ? `<p>…and ${(counts[table] ?? 0) - sample.length} more in the JSON file.</p>`
          : ''
      }`;
    }),
    '</main></body></html>',
  ].join('');
  const htmlOut = createWriteStream(htmlPath, { mode: 0o600 });
  htmlOut.end(html);
  await once(htmlOut, 'finish');
  await input.onProgress?.(100, 'done');
  return { jsonPath, htmlPath, counts, bytes: out.bytesWritten };
}

/** How long an export's files stay on disk (decrypted personal data: as short as a download allows). */
export const EXPORT_FILE_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Deletes every export file older than `maxAgeMs` (by modification time), so decrypted copies do not pile up
 * in the data folder and its backups. Runs with the erasure sweep. @returns how many files were removed.
 */
export async function removeExpiredExportFiles(
  dir: string,
  maxAgeMs = EXPORT_FILE_TTL_MS,
  now = Date.now(),
): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0; // no export yet
  }
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() && now - info.mtimeMs > maxAgeMs) {
      await rm(path, { force: true });
      removed += 1;
    }
  }
  return removed;
}

/** Deletes an export's files (after erasure, or when the download period is over). */
export async function removeExportFiles(dir: string, fileId: string): Promise<void> {
  for (const extension of ['json', 'html', 'json.partial'])
    await rm(join(dir, `${fileId}.${extension}`), { force: true });
}
