import type pg from 'pg';
import type { Logger } from '../../../server/src/telemetry/logger.js';
import type { ModelArtifact } from '../artifacts/model-artifact.js';
import { trainChurnModel } from '../trainers/churn-trainer.js';
import { trainChurnTreesModel } from '../trainers/churn-trees-trainer.js';
import { trainClvModel } from '../trainers/clv-trainer.js';
import { trainClvTreesModel } from '../trainers/clv-trees-trainer.js';
import type { TrainerOptions } from '../trainers/trainer-options.js';
import type { TrainingDataset } from '../training/training-dataset.js';
import { evaluateOnHoldout, type EvaluationTarget } from './holdout-evaluation.js';
import type { ModelDestination } from './model-destination.js';
import { decidePromotion, type GateDecision, type GateMetric } from './promotion-gate.js';
import { loadTrainingSnapshot } from './training-snapshot.js';

/** Fits one candidate of a model on a dataset (the same signature for every family). */
type Trainer = (dataset: TrainingDataset, options: TrainerOptions) => { artifact: ModelArtifact };

/**
 * The model families every model is trained in: `linear` (logistic / ridge regression) and `trees`
 * (gradient-boosted trees). Each is a candidate of its own, registered and gated separately.
 */
export const MODEL_FAMILIES = ['linear', 'trees'] as const;

/** A family of {@link MODEL_FAMILIES}. */
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

/** A model the job trains: a trainer per family, what it predicts, and the metrics its gate compares. */
interface TrainedModel {
  readonly trainers: Readonly<Record<ModelFamily, Trainer>>;
  readonly target: EvaluationTarget;
  /** Gate metrics; the first also ranks candidates that all pass (see {@link runTrainJob}). */
  readonly gate: readonly GateMetric[];
}

/** The models `batch:train` trains, by name. */
export const TRAINED_MODELS = {
  churn: {
    trainers: { linear: trainChurnModel, trees: trainChurnTreesModel },
    target: 'churned',
    gate: [
      { name: 'auc', higherIsBetter: true },
      { name: 'log_loss', higherIsBetter: false },
    ],
  },
  clv: {
    trainers: { linear: trainClvModel, trees: trainClvTreesModel },
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
  /** @default every family in {@link MODEL_FAMILIES} */
  readonly families?: readonly ModelFamily[];
}

/** What happened to one candidate (one family of one model). */
export interface ModelTrainingReport {
  readonly model: TrainedModelName;
  readonly family: ModelFamily;
  /** The manifest's `training.algorithm`, e.g. `gradient-boosted-trees`. */
  readonly algorithm: string;
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
  /** One report per candidate, by model, then family in {@link MODEL_FAMILIES} order. */
  readonly models: readonly ModelTrainingReport[];
}

/**
 * Retrains from the feature store: builds the snapshot (labels as of `asOf`), and for each model trains one
 * candidate per family on it, registers each as the destination's next version, evaluates every candidate
 * and the current default version (the champion) on the same holdout and applies the gate
 * ({@link decidePromotion}) to each. Of the candidates that pass (all of them when there is no champion),
 * the one best on the first gate metric (churn: AUC; CLV: RMSE) is promoted, the earlier family on a tie;
 * the others stay registered, not default, and their reports say why.
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
  const families = options.families ?? MODEL_FAMILIES;
  const reports: ModelTrainingReport[] = [];
  for (const name of options.models ?? (Object.keys(TRAINED_MODELS) as TrainedModelName[])) {
    const spec: TrainedModel = TRAINED_MODELS[name];
    const champion = await destination.champion(name);
    const judged = await judgeChampion(champion, dataset, spec);
    const candidates: Candidate[] = [];
    for (const family of families) {
      const version = await destination.nextVersion(name);
      const { artifact } = spec.trainers[family](dataset, { version });
      await destination.register(artifact);
      const metrics = await evaluateOnHoldout(artifact, dataset.holdout, spec.target);
      candidates.push({ family, artifact, metrics });
    }
    const modelReports = decide(name, candidates, judged, spec, options.margin);
    const winner = modelReports.find((report) => report.promoted);
    if (winner) await destination.promote(name, winner.version);
    for (const report of modelReports) {
      logger[report.promoted ? 'info' : 'warn'](
        {
          model: name,
          version: report.version,
          family: report.family,
          champion: report.champion?.version,
          promoted: report.promoted,
          reason: report.reason,
        },
        report.promoted ? 'candidate promoted' : 'candidate registered, not promoted',
      );
    }
    reports.push(...modelReports);
  }
  return {
    snapshotId: dataset.snapshotId,
    trainRows: dataset.train.length,
    holdoutRows: dataset.holdout.length,
    skippedIncomplete: snapshot.skippedIncomplete,
    models: reports,
  };
}

/** A registered candidate and its holdout metrics. */
interface Candidate {
  readonly family: ModelFamily;
  readonly artifact: ModelArtifact;
  readonly metrics: Record<string, number>;
}

/** The champion's holdout metrics, or why there are none to compare with. */
type JudgedChampion =
  | { readonly kind: 'none' }
  | { readonly kind: 'evaluated'; readonly version: string; readonly metrics: Record<string, number> }
  | { readonly kind: 'failed'; readonly version: string; readonly error: unknown };

/** Evaluates the champion on the holdout the candidates are evaluated on. */
async function judgeChampion(
  champion: ModelArtifact | undefined,
  dataset: TrainingDataset,
  spec: TrainedModel,
): Promise<JudgedChampion> {
  if (champion === undefined) return { kind: 'none' };
  const version = champion.manifest.version;
  try {
    return {
      kind: 'evaluated',
      version,
      metrics: await evaluateOnHoldout(champion, dataset.holdout, spec.target),
    };
  } catch (error) {
    return { kind: 'failed', version, error };
  }
}

/** Applies the gate to every candidate and picks the one to promote (see {@link runTrainJob}). */
function decide(
  name: TrainedModelName,
  candidates: readonly Candidate[],
  champion: JudgedChampion,
  spec: TrainedModel,
  margin: number,
): ModelTrainingReport[] {
  const base = (candidate: Candidate) => ({
    model: name,
    family: candidate.family,
    algorithm: algorithmOf(candidate),
    version: candidate.artifact.manifest.version,
    candidateMetrics: candidate.metrics,
  });
  if (champion.kind === 'failed') {
    const reason = `the champion ${name}@${champion.version} cannot be evaluated on this snapshot: ${String(champion.error)}`;
    return candidates.map((candidate) => ({ ...base(candidate), promoted: false, reason }));
  }
  const judged = candidates.map((candidate) => {
    if (champion.kind === 'none') return { candidate, passed: true, reason: 'no champion to compare with' };
    const gate = decidePromotion(candidate.metrics, champion.metrics, spec.gate, margin);
    return { candidate, passed: gate.promote, reason: gate.reason, gate };
  });
  const ranking = spec.gate[0]!;
  const score = (candidate: Candidate) => {
    const value = candidate.metrics[ranking.name] ?? NaN;
    return ranking.higherIsBetter ? value : -value;
  };
  let best: Candidate | undefined;
  for (const { candidate, passed } of judged) {
    if (passed && (best === undefined || score(candidate) > score(best))) best = candidate;
  }
  return judged.map(({ candidate, passed, reason, gate }) => {
    const promoted = candidate === best;
    const outranked =
      passed && !promoted && best !== undefined
        ? `; not promoted: ${name}@${best.artifact.manifest.version} (${best.family}) has the better ` +
          `${ranking.name} (${best.metrics[ranking.name]!.toFixed(4)} vs ${candidate.metrics[ranking.name]!.toFixed(4)})`
        : '';
    return {
      ...base(candidate),
      promoted,
      reason: reason + outranked,
      ...(champion.kind === 'evaluated' && {
        champion: { version: champion.version, metrics: champion.metrics },
      }),
      ...(gate && { gate }),
    };
  });
}

/** The manifest's `training.algorithm` (a passthrough field), or the family when it names none. */
function algorithmOf(candidate: Candidate): string {
  const algorithm: unknown = candidate.artifact.manifest.training.algorithm;
  return typeof algorithm === 'string' ? algorithm : candidate.family;
}
