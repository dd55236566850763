import { writeModelArtifact } from './artifacts/model-artifact.js';
import { POPULATION_SEED } from '../../server/src/demo-data/population-seed.js';
import { syntheticDataset } from './synthetic/synthetic-dataset.js';
import { trainChurnModel, type ChurnTrainingResult } from './trainers/churn-trainer.js';
import { trainClvModel, type ClvTrainingResult } from './trainers/clv-trainer.js';
import { trainChurnTreesModel, type ChurnTreesTrainingResult } from './trainers/churn-trees-trainer.js';
import { trainClvTreesModel, type ClvTreesTrainingResult } from './trainers/clv-trees-trainer.js';

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
  /** The bundled churn model (linear family), written to `<outDir>/churn/1/`. */
  readonly churn: ChurnTrainingResult;
  /** The bundled CLV model (linear family), written to `<outDir>/clv/1/`. */
  readonly clv: ClvTrainingResult;
  /**
   * The tree-family challengers, trained on the same rows and evaluated on the same holdout, and not
   * written: the bundled models stay the linear ones, whose scores the quick start and the tests know
   * (`npm run batch:train` registers both families and lets the gate choose).
   */
  readonly trees: { readonly churn: ChurnTreesTrainingResult; readonly clv: ClvTreesTrainingResult };
  /** Paths of the files written, in writing order. */
  readonly files: readonly string[];
}

/**
 * Trains the bundled `churn` and `clv` models on a synthetic population and writes their ONNX files and
 * manifests, and trains their tree-family challengers on the same rows for comparison. The output depends
 * only on the options: running it twice gives byte-identical files (and challengers).
 */
export async function trainModels(options: TrainModelsOptions): Promise<TrainModelsResult> {
  const dataset = syntheticDataset({
    seed: options.seed ?? TRAINING_SEED,
    customers: options.customers ?? TRAINING_CUSTOMERS,
  });
  const churn = trainChurnModel(dataset);
  const clv = trainClvModel(dataset);
  const trees = { churn: trainChurnTreesModel(dataset), clv: trainClvTreesModel(dataset) };
  const files = [
    ...(await writeModelArtifact(options.outDir, churn.artifact)),
    ...(await writeModelArtifact(options.outDir, clv.artifact)),
  ];
  return { churn, clv, trees, files };
}
