/**
 * completeSignIn: the one place that turns "this person has proven who they are by method M" into either a
 * session with tokens or, when the person has two-factor codes, a short-lived MFA challenge and no tokens.
 * Every sign-in path calls it (Telegram initData here, a linked OAuth account in the OAuth routes), so the
 * second factor cannot be skipped by choosing another way in.
 *
 * How to call it from a route (after the first factor has been checked and the user row loaded):
 *
 *   const outcome = await completeSignIn(
 *     { db, sessions: services.sessions, signer: services.signer, audit: services.audit, mfa: services.mfa },
 *     { user, method: 'oauth', client: 'Mini App', ip: request.ip, requestId: request.id },
 *   );
 *   if (outcome.kind === 'denied') return reply.status(403).send({ error: { code: outcome.code, message: outcome.message } });
 *   return outcome.body; // tokens ({ tokenType, accessToken, expiresIn, refreshToken, user })
 *                        // or { mfaRequired: true, challenge, expiresIn, methods } (finish at POST /api/v1/auth/mfa/verify)
 *
 * `{ ...services, db }` satisfies the deps too. The function records the audit entry of the sign-in itself.
 */
import { type AuditLog, truncateIp } from '#shared/audit/index.ts';
import type { Db } from '#shared/db/index.ts';
import type { User } from '#shared/db/schema.ts';
import type { AuthMethod } from '#shared/identity/principal.ts';
import { permissionsOf } from '#shared/identity/rbac.ts';
import type { TokenSigner } from '#shared/tokens/jwt.ts';
import type { SessionRecord, SessionStore } from '#shared/tokens/sessions.ts';

/** What sign-in needs from the MFA capability (services.mfa provides it). */
export interface SignInMfa {
  /** True when the person has an active second factor. */
  isEnrolled(userId: string): Promise<boolean>;
  /** Stores a single-use challenge for the sign-in to resume once the second factor is verified. */
  createChallenge(input: { userId: string; amr: AuthMethod[]; client: string; ip: string }): Promise<{
    challenge: string;
    expiresInSeconds: number;
  }>;
}

export interface SignInDeps {
  db: Db;
  sessions: SessionStore;
  signer: TokenSigner;
  audit: Pick<AuditLog, 'record'>;
  mfa: SignInMfa;
}

export interface SignInInput {
  /** The person, already loaded (and created if new) by the calling path. */
  user: User;
  /** The first factor just verified: 'tg' (Telegram initData) or 'oauth' (a linked account). */
  method: AuthMethod;
  /** A short client label for the session list ("Mini App", "Mini App · ios"); never a raw user agent. */
  client: string;
  ip: string;
  requestId: string;
}

/** The token response every sign-in path answers with. */
export interface TokenBody {
  tokenType: 'Bearer';
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  user: {
    id: string;
    telegramId: number;
    role: string;
    status: string;
    languageCode: string | null;
    createdAt: string;
  };
}

/** The answer for a person with two-factor codes: no tokens until POST /api/v1/auth/mfa/verify. */
export interface MfaChallengeBody {
  mfaRequired: true;
  challenge: string;
  expiresIn: number;
  methods: ['totp', 'backup_code'];
}

export type SignInOutcome =
  | { kind: 'tokens'; body: TokenBody; sessionId: string }
  | { kind: 'mfa_required'; body: MfaChallengeBody }
  | { kind: 'denied'; code: 'ACCOUNT_NOT_ACTIVE'; message: string };

/** Signs the access token for a session (also used by refresh, step-up and MFA verify). */
export async function issueAccessToken(signer: TokenSigner, session: SessionRecord) {
  const { token, expiresIn } = await signer.issue({
    sub: session.userId,
    sid: session.id,
    role: session.role,
    permissions: permissionsOf(session.role),
    amr: session.amr,
    auth_time: session.authTime,
    ...(session.secondFactorAt ? { sf_time: session.secondFactorAt } : {}),
  });
  return { accessToken: token, expiresIn };
}

export function userBody(user: User): TokenBody['user'] {
  return {
    id: user.id,
    telegramId: user.telegramId,
    role: user.role,
    status: user.status,
    languageCode: user.languageCode,
    createdAt: user.createdAt.toISOString(),
  };
}

/**
 * Opens a session and issues tokens for a person who has passed every factor they need.
 * `secondFactorAt` (seconds) is set when a second factor was verified in this sign-in: `amr` then has `otp`.
 */
export async function openSession(
  deps: Pick<SignInDeps, 'sessions' | 'signer'>,
  input: { user: User; amr: AuthMethod[]; client: string; ip: string; secondFactorAt?: number },
): Promise<{ body: TokenBody; sessionId: string }> {
  const { session, refreshToken } = await deps.sessions.create({
    userId: input.user.id,
    role: input.user.role,
    client: input.client,
    // The /24 or /48 network only (data minimisation).
    ip: truncateIp(input.ip) ?? '',
    amr: input.amr,
    ...(input.secondFactorAt !== undefined ? { secondFactorAt: input.secondFactorAt } : {}),
  });
  return {
    sessionId: session.id,
    body: {
      tokenType: 'Bearer',
      ...(await issueAccessToken(deps.signer, session)),
      refreshToken,
      user: userBody(input.user),
    },
  };
}

/**
 * Finishes a sign-in whose first factor (`input.method`) has been verified.
 * @returns tokens, an MFA challenge (the person has a second factor), or a denial (account not active).
 */
export async function completeSignIn(deps: SignInDeps, input: SignInInput): Promise<SignInOutcome> {
  const { user } = input;
  if (user.status !== 'active') {
    await deps.audit.record({
      actor: { type: 'user', id: user.id },
      action: 'auth.login',
      result: 'denied',
      reasonCode: 'ACCOUNT_NOT_ACTIVE',
      source: 'api',
      requestId: input.requestId,
      ip: input.ip,
    });
    return { kind: 'denied', code: 'ACCOUNT_NOT_ACTIVE', message: 'This account is not active.' };
  }
  if (await deps.mfa.isEnrolled(user.id)) {
    // The first factor alone opens nothing: the challenge resumes this sign-in once the code is verified.
    const { challenge, expiresInSeconds } = await deps.mfa.createChallenge({
      userId: user.id,
      amr: [input.method],
      client: input.client,
      ip: input.ip,
    });
    await deps.audit.record({
      actor: { type: 'user', id: user.id },
      // Not a login yet (and not a failure): the second step is recorded by the verify route.
      action: 'auth.mfa_challenge',
      result: 'success',
      source: 'api',
      requestId: input.requestId,
      ip: input.ip,
    });
    return {
      kind: 'mfa_required',
      body: { mfaRequired: true, challenge, expiresIn: expiresInSeconds, methods: ['totp', 'backup_code'] },
    };
  }
  const { body, sessionId } = await openSession(deps, {
    user,
    amr: [input.method],
    client: input.client,
    ip: input.ip,
  });
  await deps.audit.record({
    actor: { type: 'user', id: user.id },
    action: 'auth.login',
    target: { type: 'session', id: sessionId },
    result: 'success',
    source: 'api',
    requestId: input.requestId,
    ip: input.ip,
  });
  return { kind: 'tokens', body, sessionId };
}
