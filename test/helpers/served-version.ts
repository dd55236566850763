import { ClientError, Status } from 'nice-grpc';
import type { ScoringClient } from '../../client/src/scoring-client.js';

// What a replica serves, as the test/integration/model-registry*.test.ts files ask it: one churn score and
// the version that made it, and how long until a replica serves a given version.

const inline = {
  tenure_months: 5,
  plan_tier: 0,
  monthly_charges: 35,
  contract_months: 0,
  autopay: 0,
  usage_trend: -0.4,
  support_tickets_90d: 3,
  payment_failures_90d: 1,
  days_since_last_activity: 14,
  sessions_30d: 4,
  spend_12m: 300,
};

/**
 * Scores one customer (inline features) with churn, at `version` or the default: the version and score that
 * answered, "item error", or "<status>: <details>" for a failed call.
 */
export async function served(
  client: ScoringClient,
  version = '',
): Promise<{ version: string; score: number } | string> {
  try {
    const { results } = await client.score({
      model: 'churn',
      modelVersion: version,
      customers: [{ customerId: '', features: inline }],
      reasonCodes: 0,
    });
    const outcome = results[0]?.outcome;
    if (outcome?.$case !== 'prediction') return 'item error';
    return { version: outcome.value.modelVersion, score: outcome.value.score };
  } catch (error) {
    if (error instanceof ClientError) return `${Status[error.code]}: ${error.details}`;
    throw error;
  }
}

/** Polls `client` until it serves `version`; returns how long that took in ms. */
export async function convergence(client: ScoringClient, version: string, since: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const answer = await served(client);
    if (typeof answer !== 'string' && answer.version === version) return performance.now() - since;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never served ${version}`);
}
