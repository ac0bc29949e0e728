/**
 * The hot-path histogram observer must write exactly what prom-client's own `observe` writes: the same
 * exposition text for the same observations (buckets, +Inf, sum, count), across a reset, a zero() and a remove()
 * of its label set, and for values outside every bucket.
 */
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HTTP_LATENCY_BUCKETS_SECONDS, histogramObserver } from '#shared/metrics/index.ts';

function pair() {
  const make = () => {
    const registry = new Registry();
    const histogram = new Histogram({
      name: 'latency_seconds',
      help: 'test',
      labelNames: ['route', 'status_code'],
      buckets: HTTP_LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    });
    return { registry, histogram };
  };
  return { native: make(), fast: make() };
}

const VALUES = [0.0004, 0.001, 0.0011, 0.003, 0.02, 0.2, 0.7, 3, 10, 12, 0.0049, 0.001, 1e-9, 0];

describe('histogramObserver', () => {
  it('produces the same exposition as prom-client observe, per label set', async () => {
    const { native, fast } = pair();
    const a = { route: '/healthz', status_code: '200' };
    const b = { route: '/api/v1/me', status_code: '401' };
    const observeA = histogramObserver(fast.histogram, a);
    const observeB = histogramObserver(fast.histogram, b);
    VALUES.forEach((value, index) => {
      native.histogram.observe(index % 3 === 0 ? b : a, value);
      (index % 3 === 0 ? observeB : observeA)(value);
    });
    expect(await fast.registry.metrics()).toBe(await native.registry.metrics());
    expect(await fast.registry.metrics()).toContain('latency_seconds_count{route="/healthz",status_code="200"} 9');
  });

  it.each([
    ['reset()', 5],
    ['zero() of its label set', 4],
    ['remove() of its label set', 4],
  ] as const)('keeps counting correctly after %s', async (how, after) => {
    const { native, fast } = pair();
    const labels = { route: '/healthz', status_code: '200' };
    const observe = histogramObserver(fast.histogram, labels);
    const feed = (values: number[]) => {
      for (const value of values) {
        observe(value);
        native.histogram.observe(labels, value);
      }
    };
    feed(VALUES);
    for (const { histogram } of [fast, native]) {
      if (how === 'reset()') histogram.reset();
      else if (how === 'zero() of its label set') histogram.zero(labels);
      else histogram.remove(labels);
    }
    feed(VALUES.slice(0, after));
    expect(await fast.registry.metrics()).toBe(await native.registry.metrics());
    expect(await fast.registry.metrics()).toContain(
      `latency_seconds_count{route="/healthz",status_code="200"} ${after}`,
    );
  });

  it('refuses a value that is not a number, as prom-client does', () => {
    const { fast } = pair();
    const observe = histogramObserver(fast.histogram, { route: '/x', status_code: '200' });
    observe(0.01);
    expect(() => observe(Number.NaN)).toThrow(TypeError);
  });
});
