/** `.env.example` is the operator's reference: it must list exactly the keys the schema reads, all unset. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_KEYS, parseConfig } from '#shared/config/index.ts';
import { ROOT } from '#test/helpers/paths.ts';

describe('.env.example', () => {
  const lines = readFileSync(join(ROOT, '.env.example'), 'utf8').split('\n');
  const entries = lines.filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line)).map((line) => line.split('='));

  it('lists every configuration key exactly once, and nothing else', () => {
    const keys = entries.map(([key]) => key);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual([...ENV_KEYS].sort());
  });

  it('leaves every value empty, so a copy starts in development with generated secrets', () => {
    expect(entries.filter(([, value]) => value !== '')).toEqual([]);
    const config = parseConfig(Object.fromEntries(entries.map(([key]) => [key as string, ''])));
    expect(config.port).toBe(3000);
  });
});
