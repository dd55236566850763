/** A metric the gate compares, and which direction is better. */
export interface GateMetric {
  readonly name: string;
  readonly higherIsBetter: boolean;
}

/** One metric of the candidate next to the champion's. */
export interface MetricComparison extends GateMetric {
  readonly candidate: number;
  readonly champion: number;
  /** How much worse the candidate is, relative to the champion (0.02 = 2 % worse; negative = better). */
  readonly relativeWorsening: number;
  readonly passed: boolean;
}

/** The gate's verdict with its reason in words. */
export interface GateDecision {
  readonly promote: boolean;
  /** E.g. `auc 0.6012 vs champion 0.8123: 26.0 % worse, more than the 1.0 % margin`. */
  readonly reason: string;
  readonly comparisons: readonly MetricComparison[];
}

/**
 * Decides whether a candidate replaces the champion: it must be no worse than the champion by more than
 * `margin` (a fraction of the champion's value: 0.01 = 1 %) on every gate metric. Without a champion the
 * candidate is promoted. A margin lets a retrain on fresh data through when it is only noise-level worse,
 * while a broken pipeline (shuffled labels, a lost feature) is stopped.
 */
export function decidePromotion(
  candidate: Readonly<Record<string, number>>,
  champion: Readonly<Record<string, number>> | undefined,
  metrics: readonly GateMetric[],
  margin: number,
): GateDecision {
  if (champion === undefined)
    return { promote: true, reason: 'no champion to compare with', comparisons: [] };
  const comparisons = metrics.map((metric): MetricComparison => {
    const c = candidate[metric.name];
    const h = champion[metric.name];
    if (c === undefined || h === undefined || !Number.isFinite(c) || !Number.isFinite(h)) {
      return { ...metric, candidate: c ?? NaN, champion: h ?? NaN, relativeWorsening: NaN, passed: false };
    }
    const worse = metric.higherIsBetter ? h - c : c - h;
    const relativeWorsening = worse / Math.max(Math.abs(h), Number.EPSILON);
    return { ...metric, candidate: c, champion: h, relativeWorsening, passed: relativeWorsening <= margin };
  });
  const failed = comparisons.filter((comparison) => !comparison.passed);
  const describe = (m: MetricComparison) =>
    Number.isNaN(m.relativeWorsening)
      ? `${m.name}: not comparable (candidate ${m.candidate}, champion ${m.champion})`
      : `${m.name} ${m.candidate.toFixed(4)} vs champion ${m.champion.toFixed(4)}: ` +
        (m.relativeWorsening === 0
          ? 'the same'
          : `${(Math.abs(m.relativeWorsening) * 100).toFixed(1)} % ${m.relativeWorsening > 0 ? 'worse' : 'better'}`);
  const percent = `${(margin * 100).toFixed(1)} %`;
  return failed.length > 0
    ? {
        promote: false,
        reason: `${failed.map(describe).join('; ')}, more than the ${percent} margin`,
        comparisons,
      }
    : {
        promote: true,
        reason: `within the ${percent} margin: ${comparisons.map(describe).join('; ')}`,
        comparisons,
      };
}
