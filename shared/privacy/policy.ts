/**
 * The privacy policy, generated from the live data map and the controller's configuration: the same content as
 * JSON (API), HTML (GET /privacy) and chat text (/privacy), versioned by the SHA-256 of its content, so any change
 * in purposes, columns or retention shows as a new version. Also the Art. 15 facts every export carries and the
 * Art. 30 record of processing activities for admins.
 */
import { createHash } from 'node:crypto';
import type { ControllerInfo } from './consent.ts';
import {
  DATA_CATEGORIES,
  type DataCategory,
  type DataMap,
  dataMap,
  type LegalBasis,
  PURPOSE_IDS,
  PURPOSES,
  type PurposeId,
  type PurposeSpec,
  purposeVersion,
  type RetentionRule,
} from './data-map.ts';

export const LEGAL_BASIS_TEXT: Record<LegalBasis, string> = {
  contract: 'Performance of a contract (GDPR Art. 6(1)(b))',
  legitimate_interest: 'Legitimate interests (GDPR Art. 6(1)(f))',
  consent: 'Your consent (GDPR Art. 6(1)(a)), which you can withdraw at any time',
  legal_obligation: 'A legal obligation (GDPR Art. 6(1)(c))',
};

export const CATEGORY_TEXT: Record<DataCategory, string> = {
  identifiers: 'Identifiers (your Telegram id, internal ids)',
  contact: 'Contact details (names and emails of accounts you link)',
  profile: 'Profile (language)',
  security: 'Security data (roles, key hashes, two-factor state, security log entries)',
  usage: 'Usage data (times, networks you connect from, truncated)',
  content: 'What you wrote (names you give your keys, requests you make)',
  consent: 'Your privacy choices (consents, restriction, objections)',
  system: 'System data (not about you)',
};

/** Your rights, as the policy and every export state them. */
export const RIGHTS = [
  'Access and a copy of your data (Art. 15, 20): /mydata in the bot, or the app.',
  'Correction (Art. 16): /mydata → Correct my data.',
  'Erasure (Art. 17): /mydata → Delete my data, with 7 days to change your mind.',
  'Restriction (Art. 18): /privacy → Restrict processing.',
  'Objection (Art. 21): /privacy, per purpose.',
  'Withdrawing consent at any time, as easily as you gave it (Art. 7(3)): /privacy.',
  'Complaining to a supervisory authority (Art. 77).',
  'We answer within one month; if we need up to two more months we tell you why (Art. 12(3)).',
] as const;

export const DATA_SOURCE =
  'From you through Telegram (your Telegram id and language), from accounts you choose to link, and from our own systems as you use the service (security log, sessions).';

/** "kept while your account exists", "90 days", "365 days (security log)". */
export function retentionText(rule: RetentionRule): string {
  if (rule.from === 'account_deleted') {
    return rule.days ? `until ${rule.days} days after your account is deleted` : 'while your account exists';
  }
  if (rule.days === null) return 'not applicable';
  const start = rule.from === 'last_activity' ? 'after your last activity' : 'from when it is recorded';
  return `${rule.days} days ${start}`;
}

export interface PolicyDocument {
  /** sha256 of the content (hex, first 16 digits). */
  version: string;
  controller: { name: string; contact: string; dpo: string | null; jurisdiction: string };
  purposes: {
    id: PurposeId;
    title: string;
    description: string;
    version: string;
    legalBasis: LegalBasis;
    legalBasisText: string;
    required: boolean;
    recipients: readonly string[];
  }[];
  categories: {
    id: DataCategory;
    description: string;
    items: {
      table: string;
      column: string;
      purpose: string;
      legalBasis: LegalBasis;
      retention: string;
      erasure: string;
    }[];
  }[];
  recipients: string[];
  rights: readonly string[];
  source: string;
  transfers: string;
  /** Data kept after an erasure request, and why (Art. 17(3)). */
  exceptions: { table: string; column: string; reason: string; retention: string }[];
}

const ERASURE_TEXT = {
  delete_row: 'deleted',
  set_null: 'cleared',
  pseudonymise: 'replaced by a value that no longer identifies you',
  crypto_shred: 'made unreadable by destroying your encryption key',
  keep: 'kept (see exceptions)',
} as const;

function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** Builds the policy from the map and the controller. Pure: the same inputs give the same version. */
export function buildPolicy(controller: ControllerInfo, map: DataMap = dataMap): PolicyDocument {
  const purposes = PURPOSE_IDS.map((id) => {
    const purpose: PurposeSpec = PURPOSES[id];
    return {
      id,
      title: purpose.title,
      description: purpose.description,
      version: purposeVersion(id),
      legalBasis: purpose.legalBasis,
      legalBasisText: LEGAL_BASIS_TEXT[purpose.legalBasis],
      required: purpose.required,
      recipients: purpose.recipients,
    };
  });
  const categories = DATA_CATEGORIES.filter((category) => category !== 'system')
    .map((id) => ({
      id,
      description: CATEGORY_TEXT[id],
      items: Object.entries(map)
        .flatMap(([table, spec]) =>
          Object.entries(spec.columns)
            .filter(([, column]) => column.personal && column.category === id)
            .map(([column, columnSpec]) => ({
              table,
              column,
              purpose: columnSpec.purpose,
              legalBasis: columnSpec.legalBasis,
              retention: retentionText(columnSpec.retention),
              erasure: ERASURE_TEXT[columnSpec.erasure],
            })),
        )
        .sort((a, b) => `${a.table}.${a.column}`.localeCompare(`${b.table}.${b.column}`)),
    }))
    .filter((category) => category.items.length > 0);
  const exceptions = Object.entries(map).flatMap(([table, spec]) =>
    spec.subjectColumn === null
      ? []
      : Object.entries(spec.columns)
          .filter(([, column]) => column.personal && column.erasure === 'keep')
          .map(([column, columnSpec]) => ({
            table,
            column,
            reason: `${columnSpec.purpose} (${LEGAL_BASIS_TEXT[columnSpec.legalBasis]})`,
            retention: retentionText(columnSpec.retention),
          })),
  );
  const content = {
    controller: {
      name: controller.name,
      contact: controller.contact,
      dpo: controller.dpo ?? null,
      jurisdiction: controller.jurisdiction,
    },
    purposes,
    categories,
    recipients: [...new Set(purposes.flatMap((purpose) => purpose.recipients))].sort(),
    rights: RIGHTS,
    source: DATA_SOURCE,
    transfers:
      'Telegram delivers messages between you and the bot and may process them outside your country under its own policy. We transfer your data to no one else.',
    exceptions,
  };
  return { version: contentHash(content), ...content };
}

/** The facts of GDPR Art. 15(1) that every export states. */
export function art15Facts(policy: PolicyDocument) {
  return {
    policyVersion: policy.version,
    controller: policy.controller,
    purposes: policy.purposes.map((purpose) => ({
      id: purpose.id,
      title: purpose.title,
      description: purpose.description,
      legalBasis: purpose.legalBasisText,
    })),
    categories: policy.categories.map((category) => category.description),
    recipients: policy.recipients,
    retention: policy.categories.map((category) => ({
      category: category.description,
      periods: [...new Set(category.items.map((item) => item.retention))],
    })),
    rights: policy.rights,
    source: policy.source,
    automatedDecisions:
      'Rate limits and intrusion detection may block requests automatically for a short time; they never decide anything else about you.',
    transfers: policy.transfers,
    keptAfterErasure: policy.exceptions,
  };
}

/** The Art. 30(1) record of processing activities, one activity per purpose. */
export function art30Record(policy: PolicyDocument, map: DataMap = dataMap) {
  return {
    policyVersion: policy.version,
    controller: policy.controller,
    activities: policy.purposes.map((purpose) => {
      const columns = Object.entries(map).flatMap(([table, spec]) =>
        Object.entries(spec.columns)
          .filter(
            ([, column]) =>
              column.personal &&
              (column.purposeId === purpose.id ||
                (column.purposeId === undefined &&
                  (purpose.id === 'security'
                    ? column.legalBasis === 'legitimate_interest'
                    : purpose.id === 'service' && column.legalBasis !== 'legitimate_interest'))),
          )
          .map(([column, spec]) => ({ table, column, ...spec })),
      );
      return {
        purpose: purpose.title,
        description: purpose.description,
        legalBasis: purpose.legalBasisText,
        dataSubjects: 'People who use the bot or the app (Telegram users)',
        dataCategories: [...new Set(columns.map((column) => CATEGORY_TEXT[column.category]))],
        recipients: purpose.recipients,
        transfers: policy.transfers,
        retention: [...new Set(columns.map((column) => retentionText(column.retention)))],
        securityMeasures: [
          'Personal fields sealed with per-person keys (AES-256-GCM), destroyed on erasure',
          'Tamper-evident, hash-chained audit trail with signed checkpoints',
          'Role-based access control, second factor for sensitive actions, rate limits',
          'TLS in transit; only hashes of tokens and keys stored',
        ],
      };
    }),
  };
}

function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The policy as a standalone HTML page: no script, no inline style (the page is served under a strict CSP). */
export function renderPolicyHtml(policy: PolicyDocument): string {
  const e = escapeHtml;
  const { controller } = policy;
  const parts = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Privacy policy · ${e(controller.name)}</title></head><body><main>`,
    `<h1>Privacy policy</h1><p>Version ${e(policy.version)}. Generated from the data we actually store.</p>`,
    '<h2>Who we are</h2>',
    `<p>${e(controller.name)} (${e(controller.jurisdiction)}) is the controller. Contact: ${e(controller.contact)}.`,
    controller.dpo ? ` Data protection officer: ${e(controller.dpo)}.` : '',
    '</p><h2>Why we process your data</h2><ul>',
    ...policy.purposes.map(
      (purpose) =>
        `<li><strong>${e(purpose.title)}</strong>: ${e(purpose.description)} <em>${e(purpose.legalBasisText)}${
          purpose.required ? '' : purpose.legalBasis === 'consent' ? '; only if you agree' : '; you can object'
        }.</em></li>`,
    ),
    '</ul><h2>What we keep</h2>',
    ...policy.categories.map(
      (category) =>
        `<h3>${e(category.description)}</h3><table><thead><tr><th>Data</th><th>Why</th><th>Kept</th><th>On erasure</th></tr></thead><tbody>${category.items
          .map(
            (item) =>
              `<tr><td>${e(`${item.table}.${item.column}`)}</td><td>${e(item.purpose)}</td><td>${e(item.retention)}</td><td>${e(item.erasure)}</td></tr>`,
          )
          .join('')}</tbody></table>`,
    ),
    '<h2>What we keep after you ask for erasure</h2><ul>',
    ...policy.exceptions.map(
      (item) => `<li>${e(`${item.table}.${item.column}`)}: ${e(item.reason)}; ${e(item.retention)}.</li>`,
    ),
    '</ul><h2>Who receives it</h2><ul>',
    ...policy.recipients.map((recipient) => `<li>${e(recipient)}</li>`),
    `</ul><p>${e(policy.transfers)}</p>`,
    `<h2>Where it comes from</h2><p>${e(policy.source)}</p>`,
    '<h2>Your rights</h2><ul>',
    ...policy.rights.map((right) => `<li>${e(right)}</li>`),
    '</ul></main></body></html>',
  ];
  return parts.join('');
}
