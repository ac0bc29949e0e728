/**
 * Runs before `npm start`: builds the Mini App when dist/webapp is missing or older than its sources, so a
 * fresh clone serves /app/ with no extra step. (Node-side tooling, not part of the browser bundle.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const webapp = fileURLToPath(new URL('.', import.meta.url));
const builtIndex = join(webapp, '..', 'dist', 'webapp', 'index.html');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

if (!existsSync(builtIndex) || statSync(builtIndex).mtimeMs < newestMtime(webapp)) {
  process.stdout.write('Building the Mini App (npm run build)…\n');
  const result = spawnSync('npx', ['vite', 'build', '--config', join(webapp, 'vite.config.ts'), '--logLevel', 'warn'], {
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  process.exit(result.status ?? 1);
}
