/** MFA error codes (rule violations; a wrong code is an expected outcome and is returned, not thrown). */
import { defineErrorCodes, errorFactory } from '../errors.ts';

export const MfaErrors = defineErrorCodes({
  MFA_NOT_ENROLLED: { status: 409, message: 'Two-factor codes are not set up. Set them up first (/mfa in the bot).' },
  MFA_ALREADY_ENABLED: { status: 409, message: 'Two-factor codes are already on. Disable them first to start over.' },
  MFA_ENROLMENT_NOT_STARTED: { status: 409, message: 'Start the set-up first (POST /api/v1/mfa/enrolment).' },
  SECOND_FACTOR_INVALID: { status: 401, message: 'That code is not valid.' },
  SECOND_FACTOR_LOCKED: { status: 429, message: 'Too many wrong codes. Try again later.' },
  MFA_CHALLENGE_INVALID: { status: 401, message: 'This sign-in has expired. Sign in again.' },
  MFA_RESET_NOT_PENDING: { status: 404, message: 'There is no pending two-factor reset.' },
  MFA_USER_NOT_FOUND: { status: 404, message: 'No such user.' },
});

export type MfaErrorCode = keyof typeof MfaErrors;
export const mfaError = errorFactory(MfaErrors);
