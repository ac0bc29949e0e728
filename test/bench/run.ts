/**
 * `npm run bench [name ...]`: runs every `*.bench.ts` in this folder (or those whose file name contains one of
 * the names) and prints its figures. Benchmarks compare variants side by side in one run, alternating them over
 * several rounds (test/bench/side-by-side.ts): ratios, not absolute times, are what to read on a shared machine.
 * The table is written to bench/results/latest.md and the figures to bench/results/latest.json (plus a dated
 * copy of the JSON), so a run can be compared with the last one.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/paths.ts';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** e.g. "1.00x baseline", "0.83x of bare" */
  note?: string;
  /** The spread over rounds, when the figure is a median. */
  min?: number;
  max?: number;
  /** The target the figure is held to, in words ("<= 1.2x bare"), and whether this run met it. */
  goal?: string;
  meets?: boolean;
}

type BenchModule = { run: () => Promise<BenchFigure[] | Record<string, number>> };

const only = process.argv.slice(2);
const dir = join(ROOT, 'test', 'bench');
const files = readdirSync(dir)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => only.length === 0 || only.some((name) => file.includes(name)))
  .sort();

const all: Record<string, BenchFigure[]> = {};
const format = (value: number) => (value >= 100 ? Math.round(value).toLocaleString('en') : value.toFixed(2));
for (const file of files) {
  process.stdout.write(`\n== ${file}\n`);
  const module = (await import(pathToFileURL(join(dir, file)).href)) as BenchModule;
  const result = await module.run();
  const figures: BenchFigure[] = Array.isArray(result)
    ? result
    : Object.entries(result).map(([name, value]) => ({ name, value, unit: '' }));
  all[file] = figures;
  for (const figure of figures) {
    const goal = figure.goal ? ` [goal ${figure.goal}: ${figure.meets ? 'met' : 'NOT met'}]` : '';
    process.stdout.write(
      `  ${figure.name.padEnd(58)} ${format(figure.value).padStart(12)} ${figure.unit.padEnd(10)} ${figure.note ?? ''}${goal}\n`,
    );
  }
}

function markdown(results: Record<string, BenchFigure[]>): string {
  const rows = ['| benchmark | figure | median | min–max | notes | goal |', '|---|---|---:|---:|---|---|'];
  for (const [file, figures] of Object.entries(results)) {
    for (const figure of figures) {
      const range =
        figure.min !== undefined && figure.max !== undefined ? `${format(figure.min)}–${format(figure.max)}` : '';
      const goal = figure.goal ? `${figure.goal}: ${figure.meets ? '**met**' : '**not met**'}` : '';
      const cells = [
        file.replace('.bench.ts', ''),
        figure.name,
        `${format(figure.value)} ${figure.unit}`,
        range,
        figure.note ?? '',
        goal,
      ];
      rows.push(`| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`);
    }
  }
  return `${rows.join('\n')}\n`;
}

const resultsDir = join(ROOT, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const stamp = new Date().toISOString();
// A partial run (`npm run bench webhook`) replaces only its own benchmarks' rows in latest.* (the dated file
// holds just what this run measured).
const previous = (() => {
  if (only.length === 0) return {};
  try {
    const text = readFileSync(join(resultsDir, 'latest.json'), 'utf8');
    return (JSON.parse(text) as { results?: Record<string, BenchFigure[]> }).results ?? {};
  } catch {
    return {};
  }
})();
const merged: Record<string, BenchFigure[]> = { ...previous, ...all };
const sorted = Object.fromEntries(
  Object.keys(merged)
    .sort()
    .map((file) => [file, merged[file] as BenchFigure[]]),
);
const document = { date: stamp, node: process.version, cpus: availableParallelism(), results: sorted };
writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(document, null, 2)}\n`);
writeFileSync(
  join(resultsDir, `${stamp.slice(0, 19).replaceAll(':', '-')}.json`),
  `${JSON.stringify({ ...document, results: all }, null, 2)}\n`,
);
writeFileSync(
  join(resultsDir, 'latest.md'),
  `# npm run bench, ${stamp.slice(0, 10)} (Node ${process.version}, ${availableParallelism()} cores)\n\n${
    only.length > 0 ? `Updated by a partial run (${only.join(', ')}); other rows are from earlier runs.\n\n` : ''
  }${markdown(sorted)}`,
);
process.stdout.write('\nWritten to bench/results/latest.md and latest.json\n');
process.exit(0);
