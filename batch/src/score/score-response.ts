import { Status } from 'nice-grpc';
import { FeatureSource, type ScoreStreamResponse } from '../../../client/src/scoring-client.js';
import type { ItemFailure, PredictionRow, ScoredChunk } from './prediction-writer.js';
import { RETRYABLE_STATUSES, RetryableError } from './retry-policy.js';

/** Thrown for an answer that cannot be used and that retrying will not fix (a rejected chunk, a protocol bug). */
export class ChunkRejectedError extends Error {
  override readonly name = 'ChunkRejectedError';
}

/**
 * Turns the server's answer to a chunk of `customerIds` into rows to commit.
 *
 * - A prediction becomes a row; a per-item error that is permanent (unknown customer, missing features,
 *   invalid id) becomes a counted failure.
 * - A per-item error with a retryable status (feature store unavailable, ...) or a prediction made from the
 *   server's population-mean fallback is transient: the whole chunk is retried ({@link RetryableError})
 *   rather than storing a failure or a made-up score for a customer who can be scored a minute later.
 * - A rejected chunk (`error` set: unknown model or version, too many customers) fails the run
 *   ({@link ChunkRejectedError}), unless its status is retryable.
 */
export function toScoredChunk(
  customerIds: readonly string[],
  response: ScoreStreamResponse,
  receivedAt: Date,
): ScoredChunk {
  if (response.error !== undefined) {
    const { code, reason, message } = response.error;
    const text = `chunk ${response.chunkId} rejected: ${Status[code] ?? code} ${reason}: ${message}`;
    if (RETRYABLE_STATUSES.has(code)) throw new RetryableError(text);
    throw new ChunkRejectedError(text);
  }
  if (response.results.length !== customerIds.length) {
    throw new ChunkRejectedError(
      `chunk ${response.chunkId}: ${response.results.length} results for ${customerIds.length} customers`,
    );
  }
  const predictions: PredictionRow[] = [];
  const failures: ItemFailure[] = [];
  for (const [i, result] of response.results.entries()) {
    const customerId = customerIds[i]!;
    if (result.customerId !== customerId) {
      throw new ChunkRejectedError(
        `chunk ${response.chunkId}: result ${i} is for ${JSON.stringify(result.customerId)}, expected ${JSON.stringify(customerId)}`,
      );
    }
    const outcome = result.outcome;
    if (outcome?.$case === 'prediction') {
      const p = outcome.value;
      if (p.featureSource === FeatureSource.FEATURE_SOURCE_FALLBACK) {
        throw new RetryableError(
          `chunk ${response.chunkId}: the server used its population-mean fallback (feature store unavailable)`,
        );
      }
      predictions.push({
        customerId,
        modelVersion: p.modelVersion,
        score: p.score,
        reasonCodes: p.reasonCodes,
      });
    } else if (outcome?.$case === 'error') {
      const { code, reason, message } = outcome.value;
      if (RETRYABLE_STATUSES.has(code)) {
        throw new RetryableError(`chunk ${response.chunkId}: customer ${customerId}: ${reason}: ${message}`);
      }
      failures.push({ customerId, code, reason, message });
    } else {
      throw new ChunkRejectedError(`chunk ${response.chunkId}: result ${i} has neither prediction nor error`);
    }
  }
  return { lastCustomerId: customerIds.at(-1)!, predictions, failures, receivedAt };
}
