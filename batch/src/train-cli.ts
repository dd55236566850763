import path from 'node:path';
import { parseArgs } from 'node:util';
import { TRAINING_CUSTOMERS, TRAINING_SEED, trainModels } from './train-models.js';

const USAGE = `Usage: npm run train -- [--out <dir>]

Trains the bundled churn and CLV models on a synthetic population (seed ${TRAINING_SEED},
${TRAINING_CUSTOMERS} customers), writes <dir>/{churn,clv}/1/{model.onnx,manifest.json}, trains the
tree-family challengers on the same rows (not written; npm run batch:train registers both families) and
prints the holdout metrics of both families next to the ceilings (the same metrics of the known true
probabilities / expected revenue).

Options:
  --out <dir>  model repository root (default: models)
  --help       show this help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: 'models' }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const started = performance.now();
  const result = await trainModels({ outDir: values.out });
  const seconds = (performance.now() - started) / 1000;

  const { churn, clv, trees } = result;
  type Row = [
    model: string,
    metric: string,
    linear: number | undefined,
    trees: number | undefined,
    ceiling?: number | undefined,
  ];
  const rows: Row[] = [
    ['churn', 'AUC', churn.metrics.auc, trees.churn.metrics.auc, churn.metrics.ceiling_auc],
    [
      'churn',
      'log-loss',
      churn.metrics.log_loss,
      trees.churn.metrics.log_loss,
      churn.metrics.ceiling_log_loss,
    ],
    ['churn', 'base rate', churn.metrics.base_rate, trees.churn.metrics.base_rate],
    ['clv', 'RMSE (currency)', clv.metrics.rmse, trees.clv.metrics.rmse, clv.metrics.ceiling_rmse],
    ['clv', 'MAE (currency)', clv.metrics.mae, trees.clv.metrics.mae, clv.metrics.ceiling_mae],
    ['clv', 'RMSE (log1p)', clv.metrics.rmse_log, undefined],
  ];
  console.log(
    `${'model'.padEnd(7)}${'metric'.padEnd(17)}${'linear'.padStart(10)}${'trees'.padStart(10)}${'ceiling'.padStart(10)}`,
  );
  for (const [model, metric, ...values] of rows) {
    console.log(`${model.padEnd(7)}${metric.padEnd(17)}${values.map(format).join('')}`);
  }
  for (const [name, family] of Object.entries(trees)) {
    const { training } = family.artifact.manifest;
    console.log(
      `${name} trees: ${String(training.trees)} trees, ${String(training.leaves)} leaves, ` +
        `${(family.artifact.onnx.length / 1024).toFixed(0)} KiB ONNX (not written)`,
    );
  }
  for (const file of result.files) console.log(`wrote ${path.relative(process.cwd(), file)}`);
  console.log(`trained in ${seconds.toFixed(1)} s`);
}

function format(value: number | undefined): string {
  return (value === undefined ? '' : value.toFixed(4)).padStart(10);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
