/** Privacy error codes (data subject requests, consent, objections). */
import { defineErrorCodes, errorFactory } from '../errors.ts';

export const PrivacyErrors = defineErrorCodes({
  PURPOSE_NOT_FOUND: { status: 404, message: 'No such purpose. GET /api/v1/privacy/consents lists them.' },
  PURPOSE_REQUIRED: {
    status: 409,
    message: 'This purpose is essential to the service and needs no consent; to stop it, ask for erasure.',
  },
  PURPOSE_NOT_CONSENT_BASED: { status: 409, message: 'This purpose does not rely on consent; object to it instead.' },
  OBJECTION_OVERRIDDEN: {
    status: 409,
    message:
      'Security processing protects you and others and continues (GDPR Art. 21(1) compelling grounds); you can ask for erasure instead.',
  },
  REQUEST_NOT_FOUND: { status: 404, message: 'No such request.' },
  REQUEST_IN_PROGRESS: { status: 409, message: 'A request of this kind is already in progress.' },
  REQUEST_NOT_CANCELLABLE: { status: 409, message: 'Only an erasure in its grace period can be cancelled.' },
  EXTENSION_NOT_ALLOWED: {
    status: 409,
    message: 'The deadline can be extended by at most two months in total, and only for an open request.',
  },
  DOWNLOAD_LINK_INVALID: {
    status: 404,
    message: 'This download link is invalid or has expired. Ask for a new export.',
  },
  ACCOUNT_ERASED: { status: 409, message: 'This account is being erased.' },
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
});

export const privacyError = errorFactory(PrivacyErrors);
