import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError, Status } from 'nice-grpc';
import type { ScoringClient } from '../../../client/src/scoring-client.js';
import { backoffDelayMs } from './backoff.js';

/** Thrown when the scoring server cannot be reached at start; the message says where and how long. */
export class ServerUnreachableError extends Error {
  override readonly name = 'ServerUnreachableError';
}

/** Thrown when the server does not serve the model or version asked for. */
export class ModelNotServedError extends Error {
  override readonly name = 'ModelNotServedError';
}

/**
 * Asks the server (GetModel) which version of `model` to score with — `version` itself when set, after
 * checking the server has it, else the model's default version — retrying UNAVAILABLE with backoff for up
 * to `timeoutMs`, so a job that starts a moment before the server still runs, and one pointed at a wrong
 * address fails clearly.
 *
 * @throws ServerUnreachableError when no answer came within `timeoutMs`; ModelNotServedError for an unknown
 *   model or version; other ClientErrors as they come (e.g. UNAUTHENTICATED).
 */
export async function resolveModelVersion(
  client: ScoringClient,
  request: { readonly address: string; readonly model: string; readonly version: string | undefined },
  options: { readonly timeoutMs: number; readonly signal: AbortSignal },
): Promise<string> {
  const deadline = performance.now() + options.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      // Each attempt may use what is left of the budget, but at least a second (a slow first connection).
      const remainingMs = Math.max(1_000, deadline - performance.now());
      const { model } = await client.getModel(
        { name: request.model, version: request.version ?? '' },
        { signal: options.signal, deadline: new Date(Date.now() + remainingMs) },
      );
      return request.version ?? model!.defaultVersion;
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      if (error.code === Status.NOT_FOUND) throw new ModelNotServedError(error.details);
      const retryable = error.code === Status.UNAVAILABLE || error.code === Status.DEADLINE_EXCEEDED;
      const delayMs = backoffDelayMs(attempt);
      if (!retryable || performance.now() + delayMs > deadline) {
        if (!retryable) throw error;
        throw new ServerUnreachableError(
          `cannot reach the scoring server at ${request.address} within ${options.timeoutMs} ms ` +
            `(${Status[error.code]}: ${error.details}); is it running? Set --address or SCORING_ADDRESS`,
          { cause: error },
        );
      }
      await sleep(delayMs, undefined, { signal: options.signal });
    }
  }
}
