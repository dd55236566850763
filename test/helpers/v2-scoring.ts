import { ClientError, Status } from 'nice-grpc';
import { expect } from 'vitest';
import type { ScoringClient } from '../../client/src/scoring-client.js';
import { CUSTOMER_FEATURES } from '../../server/src/demo-data/feature-catalog.js';
import { generateCustomers } from '../../server/src/demo-data/customer-generator.js';
import { POPULATION_SEED } from '../../server/src/demo-data/population-seed.js';

// What the test/integration/inference-v2-*.test.ts files compare V2 answers with: seeded customers' feature
// rows, the ScoringService's scores for the same rows, and a call's status with its details.

/** Seeded customers' features, in the given column order (a model's feature names). */
export function featureRowsIn(columns: readonly string[], ids: number[]): number[][] {
  return ids.map((id) => {
    const [customer] = generateCustomers({ seed: POPULATION_SEED, count: 1, firstId: id });
    const byName = new Map<string, number>(CUSTOMER_FEATURES.map((f, i) => [f.name, customer!.features[i]!]));
    return columns.map((name) => byName.get(name)!);
  });
}

/** The ScoringService's scores for rows (in `columns` order) sent as inline features. */
export async function inlineScoresOf(
  client: ScoringClient,
  columns: readonly string[],
  model: string,
  rows: number[][],
): Promise<number[]> {
  const { results } = await client.score({
    model,
    modelVersion: '',
    customers: rows.map((row) => ({
      customerId: '',
      features: Object.fromEntries(columns.map((name, i) => [name, row[i]!])),
    })),
    reasonCodes: 0,
  });
  return results.map((result) => {
    if (result.outcome?.$case !== 'prediction') throw new Error(JSON.stringify(result));
    return result.outcome.value.score;
  });
}

/**
 * What a caller sees of a call: "OK", or the gRPC status name of the error it ends with, and its details.
 * Anything that is not a gRPC error (a bug in the test) is rethrown.
 */
export async function statusWithDetailsOf(
  call: Promise<unknown>,
): Promise<{ code: string; details: string }> {
  try {
    await call;
    return { code: 'OK', details: '' };
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    return { code: Status[error.code], details: error.details };
  }
}

/** Expects two score lists of the same length, equal to 1e-6. */
export function expectClose(actual: readonly number[], expected: readonly number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(Math.abs(value - expected[i]!)).toBeLessThan(1e-6));
}
