/** The MFA capability's public barrel. */
export * from './backup-codes.ts';
export * from './errors.ts';
export * from './lockout.ts';
export * from './service.ts';
export * from './totp.ts';
