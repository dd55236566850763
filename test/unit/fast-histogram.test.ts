import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastHistogram } from '../../server/src/telemetry/fast-histogram.js';
import { LATENCY_BUCKETS } from '../../server/src/telemetry/metrics.js';

// FastHistogram must render exactly what prom-client's Histogram renders for the same observations:
// dashboards, alerts and `histogram_quantile` read these series.
describe('FastHistogram', () => {
  it('exports the same text as prom-client for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const config = { name: 'x_seconds', help: 'Time of x.', labelNames: ['model', 'version'] as const };
    const fast = new FastHistogram({ ...config, buckets: LATENCY_BUCKETS, registers: [ours] });
    const reference = new Histogram({ ...config, buckets: LATENCY_BUCKETS, registers: [theirs] });
    const series = fast.labels({ model: 'churn', version: '3' });
    // Values below, between, exactly on and above the bounds, for two label sets.
    const values = [0, 0.00005, 0.0001, 0.0003, 0.001, 0.0042, 0.9, 5, 7, 123];
    for (const value of values) {
      series.observe(value);
      reference.observe({ model: 'churn', version: '3' }, value);
      fast.observe({ model: 'clv', version: '1' }, value * 2);
      reference.observe({ model: 'clv', version: '1' }, value * 2);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('renders nothing for a label set never observed, and forgets every series on reset', async () => {
    const registry = new Registry();
    const fast = new FastHistogram({
      name: 'y',
      help: 'y.',
      labelNames: ['m'],
      buckets: [1, 2],
      registers: [registry],
    });
    expect((await fast.get()).values).toEqual([]);
    fast.observe({ m: 'a' }, 1.5);
    const values = (await fast.get()).values;
    expect(values.find((v) => v.metricName === 'y_count')?.value).toBe(1);
    expect(values.filter((v) => v.metricName === 'y_bucket').map((v) => [v.labels.le, v.value])).toEqual([
      [1, 0],
      [2, 1],
      ['+Inf', 1],
    ]);
    fast.reset();
    expect((await fast.get()).values).toEqual([]);
  });
});
