/** A valid test configuration on a temporary DATA_DIR, with generated secrets. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, parseConfig, type Secrets } from '#shared/config/index.ts';
import { resolveSecrets } from '#shared/config/secrets.ts';

export function createTestConfig(env: Record<string, string> = {}): { config: Config; secrets: Secrets } {
  const config = parseConfig({
    NODE_ENV: 'test',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'tsp-test-')),
    LOG_LEVEL: 'silent',
    ...env,
  });
  return { config, secrets: resolveSecrets(config).secrets };
}
