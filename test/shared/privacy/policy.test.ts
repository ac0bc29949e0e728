/**
 * The privacy policy is generated from the live data map, so it cannot drift from what is stored: a change in
 * purposes or columns shows as a new version; the HTML page runs no script and escapes every value.
 */
import { describe, expect, it } from 'vitest';
import { art30Record, buildPolicy, dataMap, PURPOSE_IDS, renderPolicyHtml } from '#shared/privacy/index.ts';

const controller = {
  name: 'Example <Ltd>',
  contact: 'privacy@example.com',
  dpo: 'dpo@example.com',
  jurisdiction: 'EU',
  policyUrl: undefined,
};

describe('privacy policy', () => {
  it('is versioned by its content', () => {
    const policy = buildPolicy(controller);
    expect(buildPolicy(controller).version).toBe(policy.version);
    const changed = structuredClone(dataMap);
    const column = changed.users?.columns.language_code;
    if (!column) throw new Error('fixture');
    column.purpose = 'Something else entirely.';
    expect(buildPolicy(controller, changed).version).not.toBe(policy.version);
    expect(buildPolicy({ ...controller, name: 'Other' }).version).not.toBe(policy.version);
  });

  it('states every purpose, every personal column and what is kept after erasure', () => {
    const policy = buildPolicy(controller);
    expect(policy.purposes.map((p) => p.id)).toEqual(PURPOSE_IDS);
    const listed = new Set(policy.categories.flatMap((c) => c.items.map((i) => `${i.table}.${i.column}`)));
    for (const [table, spec] of Object.entries(dataMap)) {
      for (const [column, columnSpec] of Object.entries(spec.columns)) {
        expect(listed.has(`${table}.${column}`), `${table}.${column}`).toBe(columnSpec.personal);
      }
    }
    expect(policy.exceptions.some((e) => e.table === 'audit_log')).toBe(true);
  });

  it('renders HTML without script or inline style, escaping values', () => {
    const html = renderPolicyHtml(buildPolicy(controller));
    expect(html).toContain('Example &lt;Ltd&gt;');
    expect(html).not.toContain('<Ltd>');
    expect(html).not.toMatch(/<script|style=|<style/i);
  });

  it('gives admins an Art. 30 record with one activity per purpose', () => {
    const record = art30Record(buildPolicy(controller));
    expect(record.activities).toHaveLength(PURPOSE_IDS.length);
    for (const activity of record.activities) {
      expect(activity.legalBasis).toMatch(/GDPR Art\. 6/);
      expect(activity.securityMeasures.length).toBeGreaterThan(0);
    }
  });
});
