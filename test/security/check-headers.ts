/**
 * `npm run check:headers`: grades the product's HTTP security headers with Mozilla's HTTP Observatory, as a
 * browser on the internet would see them: TLS on 443 with a certificate from a throwaway test CA, plain HTTP
 * on 80 redirecting to it, all on loopback only. Exits non-zero unless the grade is A+.
 * Needs root (ports 80/443) and the `openssl` CLI. Not part of `npm test`, since it binds 80 and 443.
 * The Observatory is installed on demand into a cache folder (never a dependency of the product).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '#test/helpers/paths.ts';

const OBSERVATORY_VERSION = '1.4.8'; // the last release for Node 20 (STACK-NOTES "Security scanners")
/** `localhost` is 127.0.0.1 in /etc/hosts, so the scanner reaches loopback with no DNS or hosts edit. */
const HOSTNAME = 'localhost';
const STARTUP_TIMEOUT_MS = 60_000;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A test CA and a server certificate for HOSTNAME signed by it; returns the file paths. */
function createCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  const key = join(dir, 'key.pem');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'cert.pem');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-days',
    '1',
    '-subj',
    '/CN=tsp check-headers test CA',
    '-keyout',
    caKey,
    '-out',
    ca,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(['req', '-new', ...ec, '-subj', `/CN=${HOSTNAME}`, '-keyout', key, '-out', csr]);
  writeFileSync(ext, `subjectAltName=DNS:${HOSTNAME}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { ca, cert, key };
}

/** Installs the Observatory once into a cache folder; returns its scan script. */
function installObservatory(): string {
  const dir = join(tmpdir(), `tsp-mdn-http-observatory-${OBSERVATORY_VERSION}`);
  const pkg = join(dir, 'node_modules', '@mdn', 'mdn-http-observatory');
  if (!existsSync(join(pkg, 'src', 'scan.js'))) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"observatory-runner","private":true}\n');
    console.log(`Installing @mdn/mdn-http-observatory@${OBSERVATORY_VERSION} into ${dir}`);
    // Its postinstall downloads the HSTS preload list and TLD list from the internet: skip it.
    const result = spawnSync(
      'npm',
      [
        'install',
        '--ignore-scripts',
        '--no-save',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        `@mdn/mdn-http-observatory@${OBSERVATORY_VERSION}`,
      ],
      { cwd: dir, stdio: 'inherit' },
    );
    if (result.status !== 0) throw new Error('npm install of the Observatory failed');
  }
  // What the skipped postinstall would have written: no host here is on the HSTS preload list.
  const preload = join(pkg, 'conf', 'hsts-preload.json');
  if (!existsSync(preload)) writeFileSync(preload, '{}\n');
  return join(pkg, 'src', 'scan.js');
}

function isHealthy(ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: 443, path: '/healthz', servername: HOSTNAME, ca }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function startProduct(files: { ca: string; cert: string; key: string }, dataDir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      ROLES: 'api',
      DATA_DIR: dataDir,
      REDIS_PREFIX: `check-headers-${process.pid}`,
      HOST: '127.0.0.1', // loopback only
      PORT: '443',
      HTTP_REDIRECT_PORT: '80',
      TLS_CERT: files.cert,
      TLS_KEY: files.key,
      PUBLIC_URL: `https://${HOSTNAME}`,
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const ca = readFileSync(files.ca);
  const started = Date.now();
  while (Date.now() - started < STARTUP_TIMEOUT_MS) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${output}`);
    if (await isHealthy(ca)) return child;
    await sleep(200);
  }
  child.kill('SIGKILL');
  throw new Error(`the server did not become healthy in ${STARTUP_TIMEOUT_MS} ms:\n${output}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

interface ScanOutput {
  error?: string;
  scan?: { grade: string; score: number; testsPassed: number; testsQuantity: number };
  tests?: Record<string, { pass: boolean; result: string; scoreModifier: number }>;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('check:headers binds ports 80 and 443 (loopback only): run it as root.');
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsp-check-headers-'));
  let child: ChildProcess | undefined;
  try {
    const files = createCertificates(dir);
    const scanScript = installObservatory();
    spawnSync(process.execPath, ['--import', 'tsx', 'webapp/build-if-stale.ts'], { cwd: ROOT, stdio: 'inherit' });
    child = await startProduct(files, join(dir, 'data'));
    // The Observatory trusts the test CA for this run only (its own wrapper would replace NODE_EXTRA_CA_CERTS).
    const scan = spawnSync(process.execPath, [scanScript, HOSTNAME], {
      encoding: 'utf8',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: files.ca },
      maxBuffer: 16 * 1024 * 1024,
    });
    const result = JSON.parse(scan.stdout) as ScanOutput;
    if (!result.scan || !result.tests) {
      console.error(`The Observatory could not scan https://${HOSTNAME}/: ${result.error ?? scan.stderr}`);
      return 1;
    }
    console.log(`\nMozilla HTTP Observatory ${OBSERVATORY_VERSION}, https://${HOSTNAME}/ (loopback, test CA)`);
    for (const [name, test] of Object.entries(result.tests)) {
      const modifier = test.scoreModifier > 0 ? `+${test.scoreModifier}` : String(test.scoreModifier);
      console.log(`  ${test.pass ? 'pass' : 'FAIL'}  ${name.padEnd(30)} ${modifier.padStart(4)}  ${test.result}`);
    }
    const { grade, score, testsPassed, testsQuantity } = result.scan;
    console.log(`\nGrade: ${grade}  Score: ${score}  Tests passed: ${testsPassed}/${testsQuantity}`);
    return grade === 'A+' ? 0 : 1;
  } finally {
    if (child) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
