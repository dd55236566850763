import type { OnnxModel } from './onnx-model.js';

/** Below this share an empty bin counts as this share, so PSI stays finite. */
const MIN_SHARE = 1e-4;
/** PSI is reported from a partial first window once it has this many rows. */
const MIN_PARTIAL_ROWS = 100;

/** One feature's drift against its training distribution. */
export interface FeatureDrift {
  readonly model: string;
  readonly version: string;
  readonly feature: string;
  /** Population stability index; rule of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant. */
  readonly psi: number;
}

interface VersionState {
  readonly model: OnnxModel;
  /** Per feature with a reference distribution: its column, bin edges and training fractions. */
  readonly features: ReadonlyArray<{ name: string; column: number; edges: number[]; expected: number[] }>;
  current: Float64Array[];
  currentRows: number;
  last: Float64Array[] | undefined;
  lastRows: number;
}

/**
 * Keeps rolling histograms of the feature values a model version is served and compares them with the
 * training distribution in its manifest (`features[].reference`) as a population stability index.
 *
 * Windows are tumbling: after `window` rows the current histogram becomes the reference for reporting
 * and a new one starts, so PSI reflects recent traffic and memory stays constant. Bins follow the
 * trainer's convention: `edges` are inner cut points and a value belongs to the bin numbered by how many
 * edges are strictly below it, i.e. `(-inf, e0], (e0, e1], ..., (e_last, +inf)`.
 */
export class DriftMonitor {
  private readonly versions = new Map<OnnxModel, VersionState>();

  constructor(private readonly window: number) {}

  /** Records one served row (feature values in the model's column order). Cheap: a few comparisons per feature. */
  observe(model: OnnxModel, values: ArrayLike<number>): void {
    const state = this.stateOf(model);
    if (state.features.length === 0) return;
    state.features.forEach((feature, i) => {
      state.current[i]![binOf(feature.edges, values[feature.column]!)]! += 1;
    });
    state.currentRows += 1;
    if (state.currentRows >= this.window) {
      state.last = state.current;
      state.lastRows = state.currentRows;
      state.current = state.features.map((feature) => new Float64Array(feature.expected.length));
      state.currentRows = 0;
    }
  }

  /** PSI per model version and feature, from the last full window (or a large enough first partial one). */
  report(): FeatureDrift[] {
    const report: FeatureDrift[] = [];
    for (const state of this.versions.values()) {
      const [counts, rows] =
        state.last !== undefined ? [state.last, state.lastRows] : [state.current, state.currentRows];
      if (rows < Math.min(MIN_PARTIAL_ROWS, this.window)) continue;
      state.features.forEach((feature, i) => {
        report.push({
          model: state.model.name,
          version: state.model.version,
          feature: feature.name,
          psi: populationStabilityIndex(counts[i]!, rows, feature.expected),
        });
      });
    }
    return report;
  }

  private stateOf(model: OnnxModel): VersionState {
    let state = this.versions.get(model);
    if (state === undefined) {
      const features = model.manifest.features.flatMap((feature, column) =>
        feature.reference === undefined
          ? []
          : [
              {
                name: feature.name,
                column,
                edges: feature.reference.edges,
                expected: feature.reference.fractions,
              },
            ],
      );
      state = {
        model,
        features,
        current: features.map((feature) => new Float64Array(feature.expected.length)),
        currentRows: 0,
        last: undefined,
        lastRows: 0,
      };
      this.versions.set(model, state);
    }
    return state;
  }
}

/** The bin of `value`: how many edges are strictly below it (binary search). */
function binOf(edges: readonly number[], value: number): number {
  let low = 0;
  let high = edges.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (edges[mid]! < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** PSI = Σ (actual − expected) · ln(actual / expected) over bins, shares floored at {@link MIN_SHARE}. */
export function populationStabilityIndex(
  counts: ArrayLike<number>,
  rows: number,
  expected: readonly number[],
): number {
  let psi = 0;
  for (let i = 0; i < expected.length; i++) {
    const actual = Math.max((counts[i] ?? 0) / rows, MIN_SHARE);
    const reference = Math.max(expected[i]!, MIN_SHARE);
    psi += (actual - reference) * Math.log(actual / reference);
  }
  return psi;
}
