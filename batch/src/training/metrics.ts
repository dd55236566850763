/**
 * Area under the ROC curve: the probability that a random positive scores higher than a random negative, ties
 * counting one half (Mann-Whitney U from average ranks).
 *
 * @param scores - Any scores where higher means more likely positive.
 * @param labels - One label per score.
 * @throws Error when lengths differ or there is no positive or no negative.
 */
export function auc(scores: readonly number[], labels: readonly boolean[]): number {
  assertSameLength(scores, labels);
  const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]!] === scores[order[start]!]) end += 1;
    // Ranks start..end (1-based: start + 1..end + 1) are tied and all get their average.
    const averageRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k += 1) {
      if (labels[order[k]!]) {
        positives += 1;
        positiveRankSum += averageRank;
      }
    }
    start = end + 1;
  }
  const negatives = scores.length - positives;
  if (positives === 0 || negatives === 0) throw new Error('AUC needs at least one positive and one negative');
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Mean negative log-likelihood of binary labels (natural log, nats per row). Probabilities are clipped to
 * `[1e-15, 1 − 1e-15]` so that a confident mistake costs about 34.5 instead of infinity.
 *
 * @throws Error when lengths differ or the input is empty.
 */
export function logLoss(probabilities: readonly number[], labels: readonly boolean[]): number {
  assertSameLength(probabilities, labels);
  let sum = 0;
  for (const [i, probability] of probabilities.entries()) {
    const p = Math.min(Math.max(probability, 1e-15), 1 - 1e-15);
    sum -= labels[i] ? Math.log(p) : Math.log(1 - p);
  }
  return sum / probabilities.length;
}

/**
 * Root mean squared error, in the unit of the values.
 *
 * @throws Error when lengths differ or the input is empty.
 */
export function rmse(predictions: readonly number[], actuals: readonly number[]): number {
  assertSameLength(predictions, actuals);
  let sum = 0;
  for (const [i, prediction] of predictions.entries()) sum += (prediction - actuals[i]!) ** 2;
  return Math.sqrt(sum / predictions.length);
}

/**
 * Mean absolute error, in the unit of the values.
 *
 * @throws Error when lengths differ or the input is empty.
 */
export function mae(predictions: readonly number[], actuals: readonly number[]): number {
  assertSameLength(predictions, actuals);
  let sum = 0;
  for (const [i, prediction] of predictions.entries()) sum += Math.abs(prediction - actuals[i]!);
  return sum / predictions.length;
}

function assertSameLength(a: readonly unknown[], b: readonly unknown[]): void {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  if (a.length === 0) throw new Error('no values');
}
