import { writeModelArtifact } from './artifacts/model-artifact.js';
import { POPULATION_SEED } from '../../server/src/demo-data/population-seed.js';
import { syntheticDataset } from './synthetic/synthetic-dataset.js';
import { trainChurnModel, type ChurnTrainingResult } from './trainers/churn-trainer.js';
import { trainClvModel, type ClvTrainingResult } from './trainers/clv-trainer.js';

/** Seed of the synthetic population the bundled models are trained on. */
export const TRAINING_SEED = POPULATION_SEED;

/** Size of the synthetic training population (train + holdout), chosen so training takes a few seconds. */
export const TRAINING_CUSTOMERS = 60_000;

/** Options of {@link trainModels}. */
export interface TrainModelsOptions {
  /** Model repository root; models go to `<outDir>/<name>/1/`. */
  readonly outDir: string;
  /** @default {@link TRAINING_SEED} */
  readonly seed?: number;
  /** @default {@link TRAINING_CUSTOMERS} */
  readonly customers?: number;
}

/** What {@link trainModels} trained and wrote. */
export interface TrainModelsResult {
  readonly churn: ChurnTrainingResult;
  readonly clv: ClvTrainingResult;
  /** Paths of the files written, in writing order. */
  readonly files: readonly string[];
}

/**
 * Trains the bundled `churn` and `clv` models on a synthetic population and writes their ONNX files and
 * manifests. The output depends only on the options: running it twice gives byte-identical files.
 */
export async function trainModels(options: TrainModelsOptions): Promise<TrainModelsResult> {
  const dataset = syntheticDataset({
    seed: options.seed ?? TRAINING_SEED,
    customers: options.customers ?? TRAINING_CUSTOMERS,
  });
  const churn = trainChurnModel(dataset);
  const clv = trainClvModel(dataset);
  const files = [
    ...(await writeModelArtifact(options.outDir, churn.artifact)),
    ...(await writeModelArtifact(options.outDir, clv.artifact)),
  ];
  return { churn, clv, files };
}
