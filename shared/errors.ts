/**
 * Domain errors: rule violations that every edge (API, bot, worker) translates once.
 * Codes are UPPER_SNAKE strings; each capability declares its own with {@link defineErrorCodes}.
 */

/** The HTTP status family an error code maps to at the API edge. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

export interface ErrorCodeSpec {
  /** HTTP status used by the API edge. */
  readonly status: ErrorStatus;
  /** A safe, user-facing message telling the reader what to do next. */
  readonly message: string;
}

/**
 * Declares a capability's error codes.
 * @example
 * export const IdentityErrors = defineErrorCodes({ USER_NOT_FOUND: { status: 404, message: 'No such user.' } });
 */
export function defineErrorCodes<const T extends Record<string, ErrorCodeSpec>>(codes: T): T {
  for (const code of Object.keys(codes)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(code)) throw new Error(`Error code ${code} must be UPPER_SNAKE`);
  }
  return codes;
}

/** Thrown for a rule violation; carries a stable code, a status and a safe message. */
export class DomainError extends Error {
  readonly code: string;
  readonly status: ErrorStatus;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, spec: ErrorCodeSpec, details?: Record<string, unknown>) {
    super(spec.message);
    this.name = 'DomainError';
    this.code = code;
    this.status = spec.status;
    this.details = details;
  }
}

/** Builds a thrower bound to a code table: `const fail = errorFactory(Codes); throw fail('X')`. */
export function errorFactory<T extends Record<string, ErrorCodeSpec>>(codes: T) {
  return (code: keyof T & string, details?: Record<string, unknown>): DomainError => {
    const spec = codes[code];
    if (!spec) throw new Error(`Unknown error code ${code}`);
    return new DomainError(code, spec, details);
  };
}

/** Codes shared by every edge. */
export const CommonErrors = defineErrorCodes({
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests. Try again later.' },
  REDIS_UNAVAILABLE: { status: 503, message: 'A backing service is unavailable. Try again shortly.' },
  DATABASE_UNAVAILABLE: { status: 503, message: 'A backing service is unavailable. Try again shortly.' },
  SHUTTING_DOWN: { status: 503, message: 'The server is restarting. Try again shortly.' },
});

export const commonError = errorFactory(CommonErrors);

/** True for a {@link DomainError}, even across module copies. */
export function isDomainError(value: unknown): value is DomainError {
  return value instanceof DomainError;
}
