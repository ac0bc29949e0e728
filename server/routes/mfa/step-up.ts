/**
 * Step-up for people who have a second factor: routes declaring `config.stepUpIfEnrolledSeconds` need a code
 * verified within that many seconds when the caller has MFA on (API-key create/rotate, data export and
 * erasure). Someone without MFA has no factor to step up with and passes (admin routes use the auth plugin's
 * unconditional `stepUpSeconds` instead). An API key never carries a second factor: for an owner with MFA it
 * is refused on these routes.
 *
 *   config: { permission: 'privacy:write', stepUpIfEnrolledSeconds: STEP_UP_SECONDS }
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { settleHook } from '#server/plugins/hook-callback.ts';
import type { Principal } from '#shared/identity/principal.ts';
import { type MfaService, STEP_UP_SECONDS } from '#shared/mfa/index.ts';

export { STEP_UP_SECONDS };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Needs a second factor verified within this many seconds, when the caller has MFA on. */
    stepUpIfEnrolledSeconds?: number;
  }
}

export const mfaStepUpPlugin = fp<{ mfa: Pick<MfaService, 'isEnrolled'> }>(
  async (app: FastifyInstance, options) => {
    // Runs after the auth plugin's onRequest hook (registered later), so `request.principal` is set.
    // Callback style: only routes that ask for it pay for a promise.
    app.addHook('onRequest', (request, reply, done) => {
      const maxAge = request.routeOptions.config?.stepUpIfEnrolledSeconds;
      const principal = request.principal;
      if (maxAge === undefined || !principal || reply.sent) {
        done();
        return;
      }
      settleHook(check(principal, maxAge, reply), done);
    });

    async function check(principal: Principal, maxAge: number, reply: FastifyReply): Promise<unknown> {
      if (!(await options.mfa.isEnrolled(principal.userId))) return undefined;
      const fresh =
        principal.kind === 'user' &&
        principal.secondFactorAt !== undefined &&
        Date.now() / 1000 - principal.secondFactorAt <= maxAge;
      if (fresh) return;
      return reply.status(403).send({
        error: {
          code: 'STEP_UP_REQUIRED',
          message: 'Confirm with your second factor (POST /api/v1/auth/step-up), then retry.',
          details: { maxAgeSeconds: maxAge },
        },
      });
    }
  },
  { name: 'mfa-step-up', dependencies: ['auth'] },
);
