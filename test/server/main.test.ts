/**
 * The real process, as `npm start` runs it: starts with no configuration, says once that the bot is off,
 * refuses bad configuration before opening any connection, refuses dev secrets in production, and stops
 * cleanly on SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, PROCESS_LIMITS_MS, runMain, type SpawnedServer, spawnServer } from '#test/helpers/spawn-server.ts';

const servers: SpawnedServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGKILL')));
});

/** A TCP listener that counts connection attempts: proof that nothing was opened. */
async function connectionCounter(): Promise<{ port: number; count: () => number; server: Server }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, count: () => connections, server };
}

// A test here may start a server from a cold data directory, run a second process and stop the first: the
// default 60 s is less than those steps' own limits allow, and a cold PGlite start alone took 23 s on a busy machine.
const PROCESS_STEPS_MS = PROCESS_LIMITS_MS.startup + PROCESS_LIMITS_MS.run + PROCESS_LIMITS_MS.stop;

describe('npm start (server/main.ts)', { timeout: PROCESS_STEPS_MS + 30_000 }, () => {
  it('starts with no configuration: healthz 200, dev secrets generated 0600, bot disabled said once', async () => {
    const server = await spawnServer();
    servers.push(server);
    console.info(`healthz 200 after ${server.startupMs} ms (PGlite + Redis, cold DATA_DIR)`);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    const secrets = join(server.dataDir, 'secrets');
    for (const file of readdirSync(secrets)) expect(statSync(join(secrets, file)).mode & 0o777).toBe(0o600);
    const disabled = server
      .logs()
      .split('\n')
      .filter((line) => line.includes('Bot disabled: BOT_TOKEN is unset'));
    expect(disabled).toHaveLength(1);
    expect(server.logs()).toContain('Workers running: system');

    // A second process on the same embedded database gets a clear refusal, not corruption.
    const second = await runMain({ DATA_DIR: server.dataDir, PORT: String(await freePort()), LOG_LEVEL: 'info' });
    expect(second.code).toBe(1);
    expect(second.output).toMatch(/in use by process \d+\. PGlite serves one process only/);

    expect(await server.stop('SIGTERM')).toBe(0);
    expect(server.logs()).toContain('Stopped cleanly');
  });

  it('refuses bad configuration with one readable error naming each variable, before any connection', async () => {
    const counter = await connectionCounter();
    const result = await runMain({
      PORT: 'eighty',
      BOT_MODE: 'smoke-signals',
      ROLES: 'api,cron',
      DATABASE_URL: `postgres://app:pw@127.0.0.1:${counter.port}/app`,
      KEYSTORE_DATABASE_URL: `postgres://app:pw@127.0.0.1:${counter.port}/app_keys`,
      REDIS_URL: `redis://127.0.0.1:${counter.port}`,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'tsp-bad-')),
    });
    counter.server.close();
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/^Invalid configuration \(3 problems\):/);
    for (const key of ['PORT', 'BOT_MODE', 'ROLES']) expect(result.output).toMatch(new RegExp(`^  - ${key}: `, 'm'));
    expect(result.output).not.toContain('pw@');
    expect(counter.count()).toBe(0);
  });

  it('refuses to start with a MASTER_KEY that cannot open the stored keys', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tsp-master-'));
    const [right, wrong] = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
    const first = await spawnServer({ DATA_DIR: dataDir, MASTER_KEY: right, ROLES: 'api' });
    servers.push(first);
    expect(await first.stop()).toBe(0);
    const second = await runMain({ DATA_DIR: dataDir, MASTER_KEY: wrong, ROLES: 'api', LOG_LEVEL: 'info' });
    expect(second.code).toBe(1);
    expect(second.output).toMatch(/MASTER_KEY does not open the stored encryption keys/);
    expect(second.output).not.toContain(wrong);
    expect(second.output).not.toContain(right);
  });

  it('refuses to start in production without real secrets', async () => {
    const result = await runMain({ NODE_ENV: 'production', DATA_DIR: mkdtempSync(join(tmpdir(), 'tsp-prod-')) });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/MASTER_KEY: is required when NODE_ENV=production/);
    expect(result.output).toMatch(/JWT_SIGNING_KEYS: is required when NODE_ENV=production/);
  });

  it('gives up on an unreachable database after STARTUP_TIMEOUT_SECONDS with a clear error', async () => {
    const port = await freePort();
    const result = await runMain({
      DATABASE_URL: `postgres://app@127.0.0.1:${port}/app`,
      KEYSTORE_DATABASE_URL: `postgres://app@127.0.0.1:${port}/app_keys`,
      STARTUP_TIMEOUT_SECONDS: '2',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'tsp-nodb-')),
      LOG_LEVEL: 'info',
    });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/PostgreSQL is not reachable/);
    expect(result.output).toMatch(/Could not start: gave up after \d+ attempt\(s\) \(last error: .*ECONNREFUSED/);
  });
});
