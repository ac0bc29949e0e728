/**
 * Consent (GDPR Art. 7): per-purpose decisions as append-only records, a signed Kantara consent receipt for
 * every decision, re-consent when a purpose's text changes version, and the one check every consumer of an
 * optional purpose calls first ({@link mayProcess}), which also honours restriction (Art. 18) and objection
 * (Art. 21).
 */
import { randomUUID } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import type { AuditLog } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import { type ConsentMethod, consentRecords, privacySettings } from '../db/schema-privacy.ts';
import {
  CONSENT_PURPOSES,
  type DataCategory,
  dataMap,
  isPurposeId,
  OBJECTABLE_PURPOSES,
  PURPOSE_IDS,
  PURPOSES,
  type PurposeId,
  type PurposeSpec,
  purposeVersion,
} from './data-map.ts';
import { privacyError } from './errors.ts';

/** Who the controller is, from the configuration (PRIVACY_CONTROLLER_*). */
export interface ControllerInfo {
  name: string;
  contact: string;
  dpo: string | undefined;
  jurisdiction: string;
  /** Where the privacy policy is published (PUBLIC_URL/privacy), when known. */
  policyUrl: string | undefined;
}

/** Kantara Initiative Consent Receipt Specification 1.1 version string. */
export const CONSENT_RECEIPT_VERSION = 'KI-CR-v1.1.0';
/** JWS `typ` of a signed consent receipt. */
export const CONSENT_RECEIPT_TYPE = 'consent-receipt+jwt';

/** One purpose as the person sees it, with their current decision. */
export interface PurposeView {
  id: PurposeId;
  title: string;
  description: string;
  version: string;
  legalBasis: PurposeSpec['legalBasis'];
  required: boolean;
  granted: boolean;
  grantedAt: string | null;
  /** For consent purposes: decided at the current version (false: the person must be asked again). */
  decided: boolean;
  objected: boolean;
}

interface Decision {
  granted: boolean;
  version: string;
  at: Date;
}

/** The newest decision per purpose. */
async function latestDecisions(db: Db, userId: string): Promise<Map<string, Decision>> {
  const rows = await db
    .select({
      purposeId: consentRecords.purposeId,
      granted: consentRecords.granted,
      version: consentRecords.purposeVersion,
      at: consentRecords.createdAt,
    })
    .from(consentRecords)
    .where(eq(consentRecords.userId, userId))
    .orderBy(desc(consentRecords.createdAt));
  const latest = new Map<string, Decision>();
  for (const row of rows) if (!latest.has(row.purposeId)) latest.set(row.purposeId, row);
  return latest;
}

/** The person's restriction and objections (defaults when none were set). */
export async function getPrivacySettings(
  db: Db,
  userId: string,
): Promise<{ restricted: boolean; restrictedAt: Date | null; objected: PurposeId[] }> {
  const [row] = await db.select().from(privacySettings).where(eq(privacySettings.userId, userId));
  return {
    restricted: Boolean(row?.restrictedAt),
    restrictedAt: row?.restrictedAt ?? null,
    objected: (row?.objectedPurposes ?? []).filter(isPurposeId),
  };
}

/** True when the person restricted processing (Art. 18): only storage and essential processing continue. */
export async function isRestricted(db: Db, userId: string): Promise<boolean> {
  return (await getPrivacySettings(db, userId)).restricted;
}

/** Every purpose with the person's decision. */
export async function listPurposes(db: Db, userId: string): Promise<PurposeView[]> {
  const [latest, settings] = await Promise.all([latestDecisions(db, userId), getPrivacySettings(db, userId)]);
  return PURPOSE_IDS.map((id) => {
    const purpose: PurposeSpec = PURPOSES[id];
    const version = purposeVersion(id);
    const decision = latest.get(id);
    const current = decision?.version === version;
    const objected = settings.objected.includes(id);
    const granted =
      purpose.legalBasis === 'consent' ? Boolean(current && decision?.granted) : purpose.required || !objected;
    return {
      id,
      title: purpose.title,
      description: purpose.description,
      version,
      legalBasis: purpose.legalBasis,
      required: purpose.required,
      granted,
      grantedAt: purpose.legalBasis === 'consent' && granted && decision ? decision.at.toISOString() : null,
      decided: purpose.legalBasis !== 'consent' || current,
      objected,
    };
  });
}

/**
 * True when the person has decided on every consent purpose at its current version. Until then the bot asks
 * (first contact, or a purpose's text changed) and only essential processing happens.
 */
export async function hasCurrentConsentDecisions(db: Db, userId: string): Promise<boolean> {
  const latest = await latestDecisions(db, userId);
  return CONSENT_PURPOSES.every((id) => latest.get(id)?.version === purposeVersion(id));
}

/**
 * The check every consumer of an optional purpose makes before processing: consent given at the current version
 * (consent purposes), no objection (optional legitimate-interest purposes), and no restriction.
 * @example if (await mayProcess(db, userId, 'analytics')) await countUsage(...)
 */
export async function mayProcess(db: Db, userId: string, purposeId: PurposeId): Promise<boolean> {
  const purpose: PurposeSpec = PURPOSES[purposeId];
  if (purpose.required) return true;
  const settings = await getPrivacySettings(db, userId);
  // Art. 18: a restricted person's data is only stored; nothing optional is done with it.
  if (settings.restricted) return false;
  if (purpose.legalBasis === 'consent') {
    const decision = (await latestDecisions(db, userId)).get(purposeId);
    return Boolean(decision?.granted && decision.version === purposeVersion(purposeId));
  }
  return !settings.objected.includes(purposeId);
}

/** Data categories processed for a purpose (from the columns that name it; the Telegram id to reach the person). */
function categoriesOf(purposeId: PurposeId): DataCategory[] {
  const categories = new Set<DataCategory>();
  for (const table of Object.values(dataMap)) {
    for (const column of Object.values(table.columns)) {
      if (column.purposeId === purposeId && column.personal) categories.add(column.category);
    }
  }
  if (categories.size === 0) categories.add('identifiers');
  return [...categories];
}

/** A Kantara Consent Receipt 1.1, with the decision and purpose version per purpose (extension fields). */
export interface ConsentReceipt {
  version: typeof CONSENT_RECEIPT_VERSION;
  jurisdiction: string;
  consentTimestamp: number;
  collectionMethod: string;
  consentReceiptID: string;
  language: string;
  piiPrincipalId: string;
  piiControllers: {
    piiController: string;
    onBehalf: boolean;
    contact: string;
    address: string;
    email: string;
    phone: string;
    piiControllerUrl?: string;
  }[];
  policyUrl: string;
  services: {
    service: string;
    purposes: {
      purpose: string;
      purposeId: PurposeId;
      purposeVersion: string;
      consentDecision: 'granted' | 'withdrawn';
      purposeCategory: string[];
      consentType: 'EXPLICIT';
      piiCategory: DataCategory[];
      primaryPurpose: boolean;
      termination: string;
      thirdPartyDisclosure: boolean;
      thirdPartyName?: string;
    }[];
  }[];
  sensitive: boolean;
  spiCat: string[];
}

const COLLECTION_METHODS: Record<ConsentMethod, string> = {
  bot: 'Telegram bot conversation',
  webapp: 'Telegram Mini App',
  api: 'REST API',
};

/** Builds the receipt for a set of decisions. */
export function buildConsentReceipt(input: {
  receiptId: string;
  userId: string;
  decisions: readonly { purposeId: PurposeId; granted: boolean }[];
  method: ConsentMethod;
  at: Date;
  controller: ControllerInfo;
  language?: string;
}): ConsentReceipt {
  const { controller } = input;
  const email = controller.contact.includes('@') ? controller.contact : '';
  return {
    version: CONSENT_RECEIPT_VERSION,
    jurisdiction: controller.jurisdiction,
    consentTimestamp: Math.floor(input.at.getTime() / 1000),
    collectionMethod: COLLECTION_METHODS[input.method],
    consentReceiptID: input.receiptId,
    language: input.language ?? 'en',
    // The internal account id, not the Telegram id: the receipt names no more than it must.
    piiPrincipalId: input.userId,
    piiControllers: [
      {
        piiController: controller.name,
        onBehalf: false,
        contact: controller.dpo ?? controller.contact,
        address: controller.jurisdiction,
        email,
        phone: '',
        ...(controller.policyUrl ? { piiControllerUrl: new URL(controller.policyUrl).origin } : {}),
      },
    ],
    policyUrl: controller.policyUrl ?? '/privacy',
    services: [
      {
        service: controller.name,
        purposes: input.decisions.map(({ purposeId, granted }) => {
          const purpose: PurposeSpec = PURPOSES[purposeId];
          return {
            purpose: purpose.description,
            purposeId,
            purposeVersion: purposeVersion(purposeId),
            consentDecision: granted ? 'granted' : 'withdrawn',
            purposeCategory: [purpose.title],
            consentType: 'EXPLICIT',
            piiCategory: categoriesOf(purposeId),
            primaryPurpose: false,
            termination: 'Withdraw at any time with /privacy in the bot or in the app.',
            thirdPartyDisclosure: purpose.recipients.length > 0,
            ...(purpose.recipients.length > 0 ? { thirdPartyName: purpose.recipients.join('; ') } : {}),
          };
        }),
      },
    ],
    sensitive: false,
    spiCat: [],
  };
}

export interface ConsentDeps {
  db: Db;
  /** Signs the receipt as a JWS (the server's EdDSA key: services.signer.signDocument). */
  signDocument: (payload: Record<string, unknown>, typ: string) => Promise<string>;
  controller: ControllerInfo;
  audit?: Pick<AuditLog, 'record'> | undefined;
  now?: () => Date;
}

/** What recording decisions returns: the signed receipt to send to the person. */
export interface ConsentResult {
  receiptId: string;
  receipt: ConsentReceipt;
  /** Compact JWS of the receipt. */
  jws: string;
}

/**
 * Records decisions for consent purposes (one append-only record each) and signs one receipt for them.
 * @throws DomainError PURPOSE_NOT_FOUND, PURPOSE_REQUIRED or PURPOSE_NOT_CONSENT_BASED for a purpose that is
 *   not a consent purpose.
 */
export async function recordConsent(
  deps: ConsentDeps,
  input: {
    userId: string;
    decisions: readonly { purposeId: string; granted: boolean }[];
    method: ConsentMethod;
    source: 'bot' | 'api';
    requestId?: string;
  },
): Promise<ConsentResult> {
  const decisions = input.decisions.map(({ purposeId, granted }) => {
    if (!isPurposeId(purposeId)) throw privacyError('PURPOSE_NOT_FOUND', { field: 'purposeId' });
    const purpose: PurposeSpec = PURPOSES[purposeId];
    if (purpose.required) throw privacyError('PURPOSE_REQUIRED', { field: 'purposeId' });
    if (purpose.legalBasis !== 'consent') throw privacyError('PURPOSE_NOT_CONSENT_BASED', { field: 'purposeId' });
    return { purposeId, granted };
  });
  const at = (deps.now ?? (() => new Date()))();
  const receiptId = randomUUID();
  if (decisions.length > 0) {
    await deps.db.insert(consentRecords).values(
      decisions.map((decision) => ({
        userId: input.userId,
        purposeId: decision.purposeId,
        purposeVersion: purposeVersion(decision.purposeId),
        granted: decision.granted,
        method: input.method,
        receiptId,
        createdAt: at,
      })),
    );
  }
  for (const decision of decisions) {
    await deps.audit?.record({
      actor: { type: 'user', id: input.userId },
      action: decision.granted ? 'privacy.consent_granted' : 'privacy.consent_withdrawn',
      target: { type: 'purpose', id: decision.purposeId },
      result: 'success',
      source: input.source,
      requestId: input.requestId,
    });
  }
  const receipt = buildConsentReceipt({
    receiptId,
    userId: input.userId,
    decisions,
    method: input.method,
    at,
    controller: deps.controller,
  });
  const jws = await deps.signDocument(receipt as unknown as Record<string, unknown>, CONSENT_RECEIPT_TYPE);
  return { receiptId, receipt, jws };
}

/** Sets or clears the person's restriction of processing (Art. 18). Returns the new state. */
export async function setRestriction(db: Db, userId: string, restricted: boolean): Promise<boolean> {
  await db
    .insert(privacySettings)
    .values({ userId, restrictedAt: restricted ? new Date() : null })
    .onConflictDoUpdate({
      target: privacySettings.userId,
      set: {
        restrictedAt: restricted ? sql`coalesce(${privacySettings.restrictedAt}, now())` : null,
        updatedAt: new Date(),
      },
    });
  return restricted;
}

/**
 * Objects to (or withdraws an objection to) an optional legitimate-interest purpose (Art. 21). Objecting to a
 * consent purpose is withdrawing consent: the caller records that with {@link recordConsent}.
 * @throws DomainError PURPOSE_NOT_FOUND, OBJECTION_OVERRIDDEN (an essential purpose) or PURPOSE_NOT_CONSENT_BASED.
 */
export async function setObjection(db: Db, userId: string, purposeId: string, objected: boolean): Promise<void> {
  if (!isPurposeId(purposeId)) throw privacyError('PURPOSE_NOT_FOUND', { field: 'purposeId' });
  if (!(OBJECTABLE_PURPOSES as readonly string[]).includes(purposeId)) {
    throw privacyError(PURPOSES[purposeId].required ? 'OBJECTION_OVERRIDDEN' : 'PURPOSE_NOT_CONSENT_BASED', {
      field: 'purposeId',
    });
  }
  const [row] = await db.select().from(privacySettings).where(eq(privacySettings.userId, userId));
  const current = new Set(row?.objectedPurposes ?? []);
  if (objected) current.add(purposeId);
  else current.delete(purposeId);
  const list = [...current].sort();
  await db
    .insert(privacySettings)
    .values({ userId, objectedPurposes: list })
    .onConflictDoUpdate({ target: privacySettings.userId, set: { objectedPurposes: list, updatedAt: new Date() } });
}

/** Users who decided on a purpose at an older version (to ask again after the text changed). */
export async function usersWithStaleConsent(db: Db, purposeId: PurposeId): Promise<string[]> {
  const rows = await db
    .selectDistinct({ userId: consentRecords.userId })
    .from(consentRecords)
    .where(
      and(
        eq(consentRecords.purposeId, purposeId),
        sql`${consentRecords.purposeVersion} <> ${purposeVersion(purposeId)}`,
      ),
    );
  return rows.map((row) => row.userId);
}
