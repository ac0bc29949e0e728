/**
 * Threat: a dashboard operators trust that silently shows nothing, because a metric was renamed. Every
 * metric the shipped Grafana dashboard queries must exist in the registry.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '#shared/metrics/index.ts';
import { ROOT } from '#test/helpers/paths.ts';

describe('Grafana dashboard', () => {
  it('queries only metrics the product exports', async () => {
    const dashboard = JSON.parse(readFileSync(`${ROOT}/ops/grafana/security-dashboard.json`, 'utf8')) as {
      panels: { targets: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
    const used = new Set(exprs.flatMap((expr) => expr.match(/tsp_[a-z0-9_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(10);
    const text = await createMetrics({ processMetrics: false }).scrape();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name]) => name));
    for (const name of used) {
      const base = name.replace(/_(bucket|count|sum)$/, '');
      expect(exported.has(name) || exported.has(base), name).toBe(true);
    }
  });
});
