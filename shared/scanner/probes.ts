/**
 * Gathering the facts the configuration checks judge: development secrets on disk, the key ring's dates,
 * Redis's eviction policy, and which admins have a second factor.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { decodeKey32, decodeSigningKeys } from '../config/index.ts';
import { FILES } from '../config/secrets.ts';
import type { Db } from '../db/index.ts';
import { users } from '../db/schema.ts';
import { cryptoKeys } from '../db/schema-crypto.ts';
import { mfaFactors } from '../db/schema-mfa.ts';
import type { AdminMfaFacts, DevSecrets, RedisPolicy, RingKeyInfo } from './config-checks.ts';

/** The development secrets generated into DATA_DIR/secrets, when the files exist (production compares). */
export function readDevSecrets(dataDir: string): DevSecrets {
  const read = (name: string) => {
    const path = join(dataDir, 'secrets', name);
    return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
  };
  const master = read(FILES.masterKey);
  const jwt = read(FILES.jwtSigningKeys);
  return {
    masterKey: master ? decodeKey32(master) : undefined,
    webhookSecret: read(FILES.webhookSecret),
    jwtSigningKeys: jwt ? decodeSigningKeys(jwt) : undefined,
  };
}

/** The key ring's keys with their dates (no key material). */
export async function readRingKeys(db: Db): Promise<RingKeyInfo[]> {
  return db
    .select({
      id: cryptoKeys.id,
      status: cryptoKeys.status,
      createdAt: cryptoKeys.createdAt,
      promotedAt: cryptoKeys.promotedAt,
    })
    .from(cryptoKeys);
}

/** The one Redis command the probe needs (ioredis's `call`). */
export interface RedisCommander {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/**
 * Redis's maxmemory-policy: CONFIG GET first; managed Redis often disables or renames CONFIG, so INFO memory
 * (which reports `maxmemory_policy`) is the fallback.
 */
export async function readRedisPolicy(redis: RedisCommander): Promise<RedisPolicy> {
  let configError = '';
  try {
    const reply = await redis.call('CONFIG', 'GET', 'maxmemory-policy');
    if (Array.isArray(reply) && typeof reply[1] === 'string') return { policy: reply[1], via: 'config' };
    configError = 'CONFIG GET gave no value';
  } catch (error) {
    configError = `CONFIG GET failed: ${(error as Error).message.slice(0, 80)}`;
  }
  try {
    const info = await redis.call('INFO', 'memory');
    const text = typeof info === 'string' ? info : Buffer.isBuffer(info) ? info.toString('utf8') : '';
    const match = /^maxmemory_policy:(\S+)/m.exec(text);
    if (match?.[1]) return { policy: match[1], via: 'info' };
    return { error: `${configError}; INFO memory has no maxmemory_policy` };
  } catch (error) {
    return { error: `${configError}; INFO failed: ${(error as Error).message.slice(0, 80)}` };
  }
}

/** Active admin accounts, and how many of them have no active TOTP factor. */
export async function readAdminMfa(db: Db): Promise<AdminMfaFacts> {
  const [row] = await db
    .select({
      admins: sql<number>`count(*)::int`,
      withoutMfa: sql<number>`count(*) filter (where ${mfaFactors.userId} is null)::int`,
    })
    .from(users)
    .leftJoin(mfaFactors, and(eq(mfaFactors.userId, users.id), eq(mfaFactors.status, 'active')))
    .where(and(eq(users.role, 'admin'), eq(users.status, 'active')));
  return { admins: Number(row?.admins ?? 0), withoutMfa: Number(row?.withoutMfa ?? 0) };
}
