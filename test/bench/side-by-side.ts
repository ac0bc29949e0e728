/**
 * Side-by-side measurement on a shared, noisy machine: variants run in alternating order over several rounds
 * (A B, B A, ...), so drift hits each alike, and figures are medians with their min and max.
 */

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

/** Runs every variant once per round, reversing the order every other round; one warm-up round is dropped. */
export async function alternate<K extends string, R>(
  variants: Record<K, () => Promise<R>>,
  rounds: number,
): Promise<Record<K, R[]>> {
  const names = Object.keys(variants) as K[];
  for (const name of names) await variants[name](); // warm-up
  const results = Object.fromEntries(names.map((name) => [name, [] as R[]])) as Record<K, R[]>;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) results[name].push(await variants[name]());
  }
  return results;
}

/** Pairs of A/B results from the same round, as ratios (B / A): the spread of the ratio, not of each side. */
export function ratios(a: readonly number[], b: readonly number[]): Spread {
  return spread(a.map((value, index) => (b[index] as number) / value));
}
