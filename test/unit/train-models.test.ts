import { readFile, mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainModels, type TrainModelsResult } from '../../batch/src/train-models.js';
import { modelManifestSchema } from '../../server/src/inference/model-manifest.js';

const committedModels = path.resolve(import.meta.dirname, '../../models');

describe('npm run train', () => {
  let outDir: string;
  let result: TrainModelsResult;
  beforeAll(async () => {
    outDir = await mkdtemp(path.join(tmpdir(), 'train-models-'));
    result = await trainModels({ outDir });
    // Both families on 48,000 rows: a few seconds of CPU, more on a busy machine.
  }, 120_000);
  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('reproduces the committed models/ byte for byte', async () => {
    const relative = result.files.map((file) => path.relative(outDir, file)).sort();
    expect(relative).toEqual([
      'churn/1/manifest.json',
      'churn/1/model.onnx',
      'clv/1/manifest.json',
      'clv/1/model.onnx',
    ]);
    expect((await readdir(committedModels)).sort()).toEqual(['churn', 'clv']);
    for (const file of relative) {
      const [fresh, committed] = await Promise.all([
        readFile(path.join(outDir, file)),
        readFile(path.join(committedModels, file)),
      ]);
      expect(fresh.equals(committed), `${file} differs from models/${file}; run npm run train`).toBe(true);
    }
  });

  it('writes manifests that conform to the model manifest contract', async () => {
    for (const name of ['churn', 'clv']) {
      const text = await readFile(path.join(outDir, name, '1', 'manifest.json'), 'utf8');
      const manifest = modelManifestSchema.parse(JSON.parse(text));
      expect(manifest.name).toBe(name);
      expect(manifest.training.snapshotId).toBe('synthetic:seed=20261129:customers=60000');
      expect(manifest.warmupRows).toHaveLength(8);
      expect(text.endsWith('}\n')).toBe(true);
    }
  });

  it('reports churn holdout AUC below the ceiling AUC, both realistic', () => {
    const {
      auc,
      ceiling_auc: ceilingAuc,
      log_loss: logLoss,
      ceiling_log_loss: ceilingLogLoss,
    } = result.churn.metrics;
    expect(auc).toBeGreaterThan(0.75);
    expect(ceilingAuc).toBeLessThan(0.9);
    expect(auc).toBeLessThan(ceilingAuc!);
    expect(ceilingAuc! - auc!).toBeGreaterThan(0.01);
    expect(logLoss).toBeGreaterThan(ceilingLogLoss!);
    expect(result.churn.metrics.base_rate).toBeGreaterThan(0.15);
    expect(result.churn.metrics.base_rate).toBeLessThan(0.3);
    expect(result.churn.artifact.manifest.metrics).toEqual(result.churn.metrics);
  });

  it('reports CLV holdout RMSE at or above the ceiling RMSE', () => {
    const {
      rmse,
      ceiling_rmse: ceilingRmse,
      mae,
      ceiling_mae: ceilingMae,
      rmse_log: rmseLog,
    } = result.clv.metrics;
    expect(rmse).toBeGreaterThanOrEqual(ceilingRmse!);
    expect(rmse! / ceilingRmse!).toBeLessThan(1.5);
    expect(mae).toBeGreaterThanOrEqual(ceilingMae!);
    expect(rmseLog).toBeGreaterThan(0);
    expect(result.clv.artifact.manifest.metrics).toEqual(result.clv.metrics);
  });

  it('trains tree challengers that beat both linear models on the same holdout, short of the ceilings', () => {
    const churn = result.churn.metrics;
    const clv = result.clv.metrics;
    const trees = { churn: result.trees.churn.metrics, clv: result.trees.clv.metrics };
    // The same holdout: the ceilings (metrics of the ground truth on those rows) are identical.
    expect(trees.churn.ceiling_auc).toBe(churn.ceiling_auc);
    expect(trees.clv.ceiling_rmse).toBe(clv.ceiling_rmse);
    expect(trees.churn.auc).toBeGreaterThan(churn.auc! + 0.01);
    expect(trees.churn.auc).toBeLessThan(churn.ceiling_auc!);
    expect(trees.churn.log_loss).toBeLessThan(churn.log_loss!);
    expect(trees.clv.rmse).toBeLessThan(clv.rmse! - 5);
    expect(trees.clv.rmse).toBeGreaterThan(clv.ceiling_rmse!);
    expect(trees.clv.mae).toBeLessThan(clv.mae!);
    expect(result.trees.churn.artifact.manifest.metrics).toEqual(trees.churn);
  });
});
