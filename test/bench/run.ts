/**
 * `npm run bench`: runs every `*.bench.ts` in this folder and prints its figures. Benchmarks compare
 * variants side by side in one run (ratios, not absolute times, are what to read on a shared machine).
 * Results are also written to test-results/bench.json.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/paths.ts';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** e.g. "1.00x baseline", "0.83x of bare" */
  note?: string;
}

type BenchModule = { run: () => Promise<BenchFigure[] | Record<string, number>> };

const only = process.argv.slice(2);
const dir = join(ROOT, 'test', 'bench');
const files = readdirSync(dir)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => only.length === 0 || only.some((name) => file.includes(name)))
  .sort();

const all: Record<string, BenchFigure[]> = {};
for (const file of files) {
  process.stdout.write(`\n== ${file}\n`);
  const module = (await import(pathToFileURL(join(dir, file)).href)) as BenchModule;
  const result = await module.run();
  const figures: BenchFigure[] = Array.isArray(result)
    ? result
    : Object.entries(result).map(([name, value]) => ({ name, value, unit: '' }));
  all[file] = figures;
  for (const figure of figures) {
    const value = figure.value >= 100 ? Math.round(figure.value).toLocaleString('en') : figure.value.toFixed(2);
    process.stdout.write(
      `  ${figure.name.padEnd(58)} ${value.padStart(12)} ${figure.unit.padEnd(10)} ${figure.note ?? ''}\n`,
    );
  }
}
mkdirSync(join(ROOT, 'test-results'), { recursive: true });
writeFileSync(join(ROOT, 'test-results', 'bench.json'), `${JSON.stringify(all, null, 2)}\n`);
process.stdout.write('\nWritten to test-results/bench.json\n');
process.exit(0);
