/**
 * Privacy and GDPR: the personal-data map and purposes, consent with signed receipts, data subject requests
 * with deadlines, export, erasure, retention and the generated privacy policy.
 */
export * from './analytics.ts';
export * from './consent.ts';
export * from './data-map.ts';
export * from './erasure.ts';
export * from './errors.ts';
export * from './export.ts';
export * from './policy.ts';
export * from './requests.ts';
export * from './retention.ts';
export * from './service.ts';
