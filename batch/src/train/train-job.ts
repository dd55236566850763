import type pg from 'pg';
import type { Logger } from '../../../server/src/telemetry/logger.js';
import type { ModelArtifact } from '../artifacts/model-artifact.js';
import { trainChurnModel } from '../trainers/churn-trainer.js';
import { trainClvModel } from '../trainers/clv-trainer.js';
import type { TrainerOptions } from '../trainers/trainer-options.js';
import type { TrainingDataset } from '../training/training-dataset.js';
import { evaluateOnHoldout, type EvaluationTarget } from './holdout-evaluation.js';
import type { ModelDestination } from './model-destination.js';
import { decidePromotion, type GateDecision, type GateMetric } from './promotion-gate.js';
import { loadTrainingSnapshot } from './training-snapshot.js';

/** A model the job trains: its trainer, what it predicts, and the metrics its gate compares. */
interface TrainedModel {
  readonly train: (dataset: TrainingDataset, options: TrainerOptions) => { artifact: ModelArtifact };
  readonly target: EvaluationTarget;
  readonly gate: readonly GateMetric[];
}

/** The models `batch:train` trains, by name. */
export const TRAINED_MODELS = {
  churn: {
    train: trainChurnModel,
    target: 'churned',
    gate: [
      { name: 'auc', higherIsBetter: true },
      { name: 'log_loss', higherIsBetter: false },
    ],
  },
  clv: {
    train: trainClvModel,
    target: 'revenue12m',
    gate: [
      { name: 'rmse', higherIsBetter: false },
      { name: 'mae', higherIsBetter: false },
    ],
  },
} as const satisfies Record<string, TrainedModel>;

/** A model name {@link runTrainJob} can train. */
export type TrainedModelName = keyof typeof TRAINED_MODELS;

/** Options of {@link runTrainJob}. */
export interface TrainJobOptions {
  /** Use labels observed on or before this day (`YYYY-MM-DD`). */
  readonly asOf: string;
  /** Largest relative worsening of any gate metric that still promotes (0.01 = 1 %). */
  readonly margin: number;
  /** @default every model in {@link TRAINED_MODELS} */
  readonly models?: readonly TrainedModelName[];
}

/** What happened to one model. */
export interface ModelTrainingReport {
  readonly model: TrainedModelName;
  /** The registered candidate's version. */
  readonly version: string;
  readonly promoted: boolean;
  readonly reason: string;
  /** Holdout metrics of the candidate's ONNX graph. */
  readonly candidateMetrics: Readonly<Record<string, number>>;
  /** The champion's version and holdout metrics on the same rows, when there was one. */
  readonly champion?: { readonly version: string; readonly metrics: Readonly<Record<string, number>> };
  readonly gate?: GateDecision;
}

/** What {@link runTrainJob} did. */
export interface TrainJobResult {
  readonly snapshotId: string;
  readonly trainRows: number;
  readonly holdoutRows: number;
  readonly skippedIncomplete: number;
  readonly models: readonly ModelTrainingReport[];
}

/**
 * Retrains from the feature store: builds the snapshot (labels as of `asOf`), and for each model trains a
 * candidate, registers it as the destination's next version, evaluates it and the current default version
 * (the champion) on the same holdout, and promotes the candidate only if the gate passes
 * ({@link decidePromotion}). A candidate that fails the gate stays registered, not default, and its report
 * says why.
 *
 * @throws Error when the snapshot is too small to train on (no labelled customers, a one-class holdout).
 */
export async function runTrainJob(
  deps: { readonly pool: pg.Pool; readonly destination: ModelDestination; readonly logger: Logger },
  options: TrainJobOptions,
): Promise<TrainJobResult> {
  const { destination, logger } = deps;
  const snapshot = await loadTrainingSnapshot(deps.pool, options.asOf);
  const { dataset } = snapshot;
  if (dataset.train.length === 0 || dataset.holdout.length === 0) {
    throw new Error(
      `the snapshot (labels observed on or before ${options.asOf}) has ${dataset.train.length} training and ` +
        `${dataset.holdout.length} holdout customers; seed or load labels first (npm run seed)`,
    );
  }
  logger.info(
    {
      snapshotId: dataset.snapshotId,
      trainRows: dataset.train.length,
      holdoutRows: dataset.holdout.length,
      skippedIncomplete: snapshot.skippedIncomplete,
    },
    'training snapshot loaded',
  );
  const reports: ModelTrainingReport[] = [];
  for (const name of options.models ?? (Object.keys(TRAINED_MODELS) as TrainedModelName[])) {
    const spec: TrainedModel = TRAINED_MODELS[name];
    const version = await destination.nextVersion(name);
    const { artifact } = spec.train(dataset, { version });
    const champion = await destination.champion(name);
    await destination.register(artifact);
    const report = await judgeCandidate(name, artifact, champion, dataset, spec, options.margin);
    if (report.promoted) await destination.promote(name, version);
    logger[report.promoted ? 'info' : 'warn'](
      {
        model: name,
        version,
        champion: report.champion?.version,
        promoted: report.promoted,
        reason: report.reason,
      },
      report.promoted ? 'candidate promoted' : 'candidate registered, not promoted',
    );
    reports.push(report);
  }
  return {
    snapshotId: dataset.snapshotId,
    trainRows: dataset.train.length,
    holdoutRows: dataset.holdout.length,
    skippedIncomplete: snapshot.skippedIncomplete,
    models: reports,
  };
}

/** Evaluates the candidate and the champion on the same holdout and applies the gate. */
async function judgeCandidate(
  name: TrainedModelName,
  candidate: ModelArtifact,
  champion: ModelArtifact | undefined,
  dataset: TrainingDataset,
  spec: TrainedModel,
  margin: number,
): Promise<ModelTrainingReport> {
  const candidateMetrics = await evaluateOnHoldout(candidate, dataset.holdout, spec.target);
  const base = { model: name, version: candidate.manifest.version, candidateMetrics };
  if (champion === undefined) return { ...base, promoted: true, reason: 'no champion to compare with' };
  const championVersion = champion.manifest.version;
  let championMetrics: Record<string, number>;
  try {
    championMetrics = await evaluateOnHoldout(champion, dataset.holdout, spec.target);
  } catch (error) {
    return {
      ...base,
      promoted: false,
      reason: `the champion ${name}@${championVersion} cannot be evaluated on this snapshot: ${String(error)}`,
    };
  }
  const gate = decidePromotion(candidateMetrics, championMetrics, spec.gate, margin);
  return {
    ...base,
    promoted: gate.promote,
    reason: gate.reason,
    champion: { version: championVersion, metrics: championMetrics },
    gate,
  };
}
