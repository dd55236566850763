import type { ModelManifestInput } from '../../../server/src/inference/model-manifest.js';
import { CUSTOMER_FEATURES } from '../../../server/src/demo-data/feature-catalog.js';
import { referenceDistribution } from '../training/reference-distribution.js';
import type { Standardizer } from '../training/standardizer.js';
import type { TrainingDataset } from '../training/training-dataset.js';

/** Name of the ONNX input tensor of every model the batch trainer exports. */
export const INPUT_NAME = 'features';

/** Number of holdout rows copied into a manifest's `warmupRows`. */
export const WARMUP_ROW_COUNT = 8;

/**
 * The manifest's `features`: the customer feature catalog with each feature's training mean (from the model's
 * standardiser) and decile reference distribution of the training rows.
 */
export function manifestFeatures(
  standardizer: Standardizer,
  dataset: TrainingDataset,
): ModelManifestInput['features'] {
  return CUSTOMER_FEATURES.map((feature, j) => ({
    name: feature.name,
    description: feature.description,
    unit: feature.unit,
    mean: standardizer.means[j]!,
    reference: referenceDistribution(dataset.train.map((row) => row.features[j]!)),
  }));
}

/** The manifest's `warmupRows`: the first {@link WARMUP_ROW_COUNT} holdout rows. */
export function manifestWarmupRows(dataset: TrainingDataset): number[][] {
  return dataset.holdout.slice(0, WARMUP_ROW_COUNT).map((row) => [...row.features]);
}
