/**
 * Signing in through the real API: POST /api/v1/auth/telegram with initData signed the way Telegram signs it
 * (the app must be built with BOT_TOKEN = TEST_BOT_TOKEN), and giving a person a role the way an admin does
 * (the role in the database, then on every live session).
 */
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { App } from '#server/app.ts';
import type { UserRole } from '#shared/db/schema.ts';
import { changeRole } from '#shared/identity/roles.ts';
import type { TestApp } from './build-test-app.ts';
import { type InitDataUser, signedInitData } from './init-data.ts';

export interface SignedIn {
  accessToken: string;
  refreshToken: string;
  /** The session the tokens belong to (the access token's `sid`). */
  sessionId: string;
  userId: string;
  telegramId: number;
  role: string;
}

/** Headers carrying an access token (or an API key) as a bearer credential. */
export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/**
 * Signs `user` in (a new session each call: every initData carries its own query id, so none is a replay).
 * @throws when the API refuses the sign-in.
 */
export async function signIn(app: App, user: InitDataUser, options: { client?: string } = {}): Promise<SignedIn> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/telegram',
    payload: {
      initData: signedInitData({ user, queryId: `AAH${randomBytes(12).toString('base64url')}` }),
      ...(options.client ? { client: options.client } : {}),
    },
  });
  if (response.statusCode !== 200) throw new Error(`sign-in failed: ${response.statusCode} ${response.body}`);
  const body = response.json() as {
    accessToken: string;
    refreshToken: string;
    user: { id: string; telegramId: number; role: string };
  };
  const { sid } = decodeJwt(body.accessToken);
  if (typeof sid !== 'string') throw new Error('the access token names no session');
  return {
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    sessionId: sid,
    userId: body.user.id,
    telegramId: body.user.telegramId,
    role: body.user.role,
  };
}

/** Gives `userId` a role as PUT /api/v1/admin/users/:id/role does: in the database, then on every live session. */
export async function giveRole(t: TestApp, userId: string, role: UserRole): Promise<void> {
  await changeRole(t.database.db, { userId, role });
  await t.services.sessions.setRole(userId, role);
}

/** Records a second factor verified now on the session (as step-up does), for routes that need one. */
export async function withSecondFactor(t: Pick<TestApp, 'services'>, signedIn: SignedIn): Promise<SignedIn> {
  await t.services.sessions.markSecondFactor(signedIn.sessionId, Math.floor(Date.now() / 1000));
  return signedIn;
}

/** Signs a person in with `role` (a fresh Telegram id per call unless `user` is given). */
export async function signInAs(
  t: TestApp,
  role: UserRole,
  user: InitDataUser = { id: nextTelegramId(), first_name: 'Tester' },
): Promise<SignedIn> {
  const first = await signIn(t.app, user);
  if (first.role === role) return first;
  await giveRole(t, first.userId, role);
  return { ...first, role };
}

let telegramIds = 800_000_000; // every test file has a database of its own

/** A Telegram user id not used before in this test file. */
export function nextTelegramId(): number {
  return ++telegramIds;
}
