/** A scanner finding before it is stored: what was found, how bad it is, and a stable identity. */
import { createHash } from 'node:crypto';
import type { Severity } from './osv.ts';

export const FINDING_KINDS = ['dependency', 'config', 'http'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  kind: FindingKind;
  /** Which check or advisory produced it (`GHSA-…`, `config.cors_wildcard`, `http.header_missing`). */
  rule: string;
  severity: Severity;
  title: string;
  detail: string;
  /**
   * Stable identity across scans (SHA-256 of kind and key): the same problem keeps its first-seen date,
   * and a finding absent from a scan is resolved.
   */
  fingerprint: string;
}

/** Largest title and detail stored (they are shown in Telegram, whose messages stop at 4096 characters). */
export const FINDING_TITLE_MAX = 200;
export const FINDING_DETAIL_MAX = 1000;

/** The fingerprint of a finding identified by `key` within `kind`. */
export function fingerprintOf(kind: FindingKind, key: string): string {
  return createHash('sha256').update(`${kind}\n${key}`).digest('hex');
}

/** Builds a finding, clipping its texts to the stored limits. */
export function finding(
  kind: FindingKind,
  rule: string,
  key: string,
  severity: Severity,
  title: string,
  detail: string,
): Finding {
  return {
    kind,
    rule,
    severity,
    title: title.slice(0, FINDING_TITLE_MAX),
    detail: detail.slice(0, FINDING_DETAIL_MAX),
    fingerprint: fingerprintOf(kind, key),
  };
}
