import type { Metric, Registry } from 'prom-client';

/** One exported sample, as prom-client's registry renders it. */
export interface HistogramValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
}

/** One label set's buckets: observing is an index search and three additions. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one is `+Inf`. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const { bounds } = this;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    this.counts[bucket]!++;
    this.sum += value;
    this.count++;
  }

  /** The series in prom-client's shape: cumulative `_bucket`s by `le`, then `_sum` and `_count`. */
  values(name: string): HistogramValue[] {
    const values: HistogramValue[] = [];
    let cumulative = 0;
    for (let bucket = 0; bucket <= this.bounds.length; bucket++) {
      cumulative += this.counts[bucket]!;
      const le = bucket < this.bounds.length ? this.bounds[bucket]! : '+Inf';
      values.push({ labels: { le, ...this.labels }, value: cumulative, metricName: `${name}_bucket` });
    }
    values.push({ labels: this.labels, value: this.sum, metricName: `${name}_sum` });
    values.push({ labels: this.labels, value: this.count, metricName: `${name}_count` });
    return values;
  }
}

/**
 * A Prometheus histogram exported exactly as prom-client's `Histogram` is, for the ones observed on every
 * call. prom-client validates and hashes the labels on every `observe`, even on a child from `labels()`; a
 * series from {@link FastHistogram.labels} is resolved once and kept by the caller, and observing it is an
 * index search and three additions.
 */
export class FastHistogram<Label extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum' as const;
  private readonly labelNames: readonly Label[];
  private readonly buckets: readonly number[];
  private readonly series = new Map<string, HistogramSeries>();

  constructor(config: {
    name: string;
    help: string;
    labelNames: readonly Label[];
    buckets: readonly number[];
    registers: readonly Registry[];
  }) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.buckets = [...config.buckets].sort((a, b) => a - b);
    // The registry renders whatever has a name, a help, a type and `get()` (prom-client types only its own).
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set (made on first use); keep it to observe without a lookup. */
  labels(labels: Readonly<Record<Label, string>>): HistogramSeries {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    let series = this.series.get(key);
    if (series === undefined) {
      const own: Record<string, string> = {};
      for (const name of this.labelNames) own[name] = labels[name];
      series = new HistogramSeries(own, this.buckets);
      this.series.set(key, series);
    }
    return series;
  }

  observe(labels: Readonly<Record<Label, string>>, value: number): void {
    this.labels(labels).observe(value);
  }

  /** What the registry renders (and what tests read), in prom-client's shape. */
  get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: HistogramValue[];
  }> {
    const values = [...this.series.values()].flatMap((series) => series.values(this.name));
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  reset(): void {
    this.series.clear();
  }
}
