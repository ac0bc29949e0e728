/**
 * Threat: metrics that leak personal data through labels, or collide between app instances in one process
 * (tests, or several apps embedded together) so one instance's counts show in another's scrape.
 */
import { describe, expect, it } from 'vitest';
import { createMetrics } from '#shared/metrics/index.ts';

describe('metrics registry', () => {
  it('gives each instance its own registry', async () => {
    const first = createMetrics({ processMetrics: false });
    const second = createMetrics({ processMetrics: false });
    first.authAttempts.inc({ method: 'telegram', result: 'success' });
    expect(await first.scrape()).toMatch(/tsp_auth_attempts_total\{method="telegram",result="success"\} 1/);
    expect(await second.scrape()).not.toMatch(/tsp_auth_attempts_total\{/);
  });

  it('follows Prometheus naming: counters end in _total, durations are in seconds', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const text = await metrics.scrape();
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({ name, type }));
    expect(types.length).toBeGreaterThan(10);
    for (const { name, type } of types) {
      expect(name).toMatch(/^tsp_[a-z0-9_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (type === 'histogram') expect(name).toMatch(/_seconds$/);
    }
  });

  it('runs collectors before each scrape, and a failing collector does not cost the scrape', async () => {
    const metrics = createMetrics({ processMetrics: false });
    let runs = 0;
    metrics.addCollector(() => {
      runs += 1;
      metrics.queueDepth.set({ queue: 'notify', state: 'waiting' }, runs);
    });
    metrics.addCollector(async () => {
      throw new Error('Redis down');
    });
    expect(await metrics.scrape()).toMatch(/tsp_queue_depth\{queue="notify",state="waiting"\} 1/);
    expect(await metrics.scrape()).toMatch(/tsp_queue_depth\{queue="notify",state="waiting"\} 2/);
  });
});
