/**
 * `npm run audit:verify`: verifies the audit trail (every hash-chain link and every signed checkpoint) and
 * prints a report. A composition root like server/main.ts: reads the environment, opens the database, exits.
 * Exit status: 0 intact, 1 broken (the first broken link is named), 2 could not verify (configuration,
 * database unreachable or not migrated).
 *
 *   npm run audit:verify                         # trusts the key derived from MASTER_KEY
 *   npm run audit:verify -- --public-key <b64u>  # also trusts an older key (raw 32-byte Ed25519, base64url)
 *   npm run audit:verify -- --json               # machine-readable result
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AuditVerification, deriveAuditSigningKey, ed25519KeyId, verifyAuditLog } from '#shared/audit/index.ts';
import { ConfigError, parseConfig } from '#shared/config/index.ts';
import { resolveSecrets } from '#shared/config/secrets.ts';
import { connectDatabase, type Database } from '#shared/db/index.ts';

const EXIT_OK = 0;
const EXIT_BROKEN = 1;
const EXIT_CANNOT_VERIFY = 2;

function publicKeyFromRaw(value: string): KeyObject {
  const raw = Buffer.from(value, 'base64url');
  if (raw.length !== 32) throw new Error(`--public-key ${value}: expected 32 bytes of Ed25519 public key, base64url`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function rawPublicKey(key: KeyObject): string {
  return key.export({ format: 'jwk' }).x ?? '';
}

const count = (value: number) => value.toLocaleString('en-US');

function report(result: AuditVerification, trusted: readonly KeyObject[]): string {
  const lines = ['Audit trail verification'];
  if (result.firstSeq === null || result.lastSeq === null) {
    lines.push('  entries:      none yet');
  } else {
    const pruned = result.firstSeq > 1 ? ` (entries before ${count(result.firstSeq)} pruned by retention)` : '';
    lines.push(
      `  entries:      seq ${count(result.firstSeq)} to ${count(result.lastSeq)}, ${count(result.checked)} verified${pruned}`,
    );
  }
  if (result.headHash) lines.push(`  head hash:    ${result.headHash}`);
  const { checkpoints } = result;
  const latest = checkpoints.latest
    ? `latest at seq ${count(checkpoints.latest.seq)}, signed ${checkpoints.latest.createdAt.toISOString()} by ${checkpoints.latest.keyId}`
    : 'none yet';
  lines.push(`  checkpoints:  ${count(checkpoints.checked)} valid; ${latest}`);
  if (checkpoints.unsignedEntries > 0) {
    lines.push(`                ${count(checkpoints.unsignedEntries)} newer entries are chained but not signed yet`);
  }
  for (const key of trusted) lines.push(`  trusted key:  ${ed25519KeyId(key)} (public key ${rawPublicKey(key)})`);
  if (result.ok) {
    lines.push('Result: OK, the trail is intact.');
  } else if (result.firstBroken) {
    lines.push(`Result: BROKEN at ${result.firstBroken.message}`);
    lines.push(
      'Entries from there on cannot be trusted. Keep this database as evidence, compare it with a backup, and ' +
        'check who had superuser or owner access to it.',
    );
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  let options: { json?: boolean | undefined; 'public-key'?: string[] | undefined };
  try {
    options = parseArgs({
      options: { json: { type: 'boolean' }, 'public-key': { type: 'string', multiple: true } },
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(
      `${(error as Error).message}\nUsage: npm run audit:verify -- [--json] [--public-key <base64url>]…\n`,
    );
    return EXIT_CANNOT_VERIFY;
  }

  let config: ReturnType<typeof parseConfig>;
  let trusted: KeyObject[];
  try {
    config = parseConfig(process.env, { cwd: process.cwd() });
    const { secrets } = resolveSecrets(config);
    trusted = [
      deriveAuditSigningKey(secrets.masterKey).publicKey,
      ...(options['public-key'] ?? []).map(publicKeyFromRaw),
    ];
  } catch (error) {
    const hint = error instanceof ConfigError ? '\n\nSee .env.example for every variable and its format.' : '';
    process.stderr.write(`${(error as Error).message}${hint}\n`);
    return EXIT_CANNOT_VERIFY;
  }

  let database: Database | undefined;
  try {
    database = await connectDatabase({
      databaseUrl: config.databaseUrl,
      pgliteDir: join(config.dataDir, 'pglite'),
      connectTimeoutMs: config.startupTimeoutSeconds * 1_000,
    });
    // Read-only tool: it never migrates, so an outdated database is reported rather than changed.
    if (!(await database.isMigrated())) {
      process.stderr.write('The database is not migrated to this version: start the server once, then verify.\n');
      return EXIT_CANNOT_VERIFY;
    }
    const result = await verifyAuditLog(database.db, { publicKeys: trusted });
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${report(result, trusted)}\n`);
    return result.ok ? EXIT_OK : EXIT_BROKEN;
  } catch (error) {
    process.stderr.write(`Could not verify the audit trail: ${(error as Error).message}\n`);
    return EXIT_CANNOT_VERIFY;
  } finally {
    await database?.close();
  }
}

process.exitCode = await main();
