import { ClientError, Status } from 'nice-grpc';

/** What an open-loop load saw: every call sent, and how each failed one ended. */
export interface SteadyLoadResult {
  readonly sent: number;
  readonly failed: number;
  /** Failed calls by gRPC status name (or the error's text, for anything that is not a gRPC error). */
  readonly failures: Record<string, number>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** How long the load ran, in ms. */
  readonly durationMs: number;
}

/** A load that runs until stopped. */
export interface SteadyLoad {
  /** Stops sending, waits for the calls in flight and reports them all. */
  stop(): Promise<SteadyLoadResult>;
  /** Calls answered so far (a sign the load reaches the server). */
  readonly answered: number;
}

/**
 * Open-loop load: `ratePerSecond` calls of `call` spread evenly, whatever the latency (a slow server gets
 * more calls in flight, as from real clients), until {@link SteadyLoad.stop}.
 */
export function startSteadyLoad(call: () => Promise<unknown>, ratePerSecond: number): SteadyLoad {
  const latenciesMs: number[] = [];
  const failures = new Map<string, number>();
  const calls: Array<Promise<void>> = [];
  let answered = 0;
  const one = async () => {
    const started = performance.now();
    try {
      await call();
      latenciesMs.push(performance.now() - started);
    } catch (error) {
      const code = error instanceof ClientError ? Status[error.code] : String(error);
      failures.set(code, (failures.get(code) ?? 0) + 1);
    } finally {
      answered++;
    }
  };
  const begun = performance.now();
  let sent = 0;
  let stopped = false;
  const sending = (async () => {
    while (!stopped) {
      // Catch up on the schedule rather than sleeping a fixed gap, so timer lag does not lower the rate.
      const due = Math.floor(((performance.now() - begun) / 1000) * ratePerSecond);
      for (; sent < due; sent++) calls.push(one());
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    get answered() {
      return answered;
    },
    async stop() {
      stopped = true;
      await sending;
      const durationMs = Math.round(performance.now() - begun);
      await Promise.all(calls);
      latenciesMs.sort((a, b) => a - b);
      return {
        sent,
        failures: Object.fromEntries(failures),
        failed: [...failures.values()].reduce((a, b) => a + b, 0),
        p50Ms: latenciesMs[Math.floor(latenciesMs.length * 0.5)] ?? NaN,
        p99Ms: latenciesMs[Math.floor(latenciesMs.length * 0.99)] ?? NaN,
        maxMs: latenciesMs.at(-1) ?? NaN,
        durationMs,
      };
    },
  };
}

/** {@link startSteadyLoad} for `durationMs`. */
export async function steadyLoad(
  call: () => Promise<unknown>,
  ratePerSecond: number,
  durationMs: number,
): Promise<SteadyLoadResult> {
  const load = startSteadyLoad(call, ratePerSecond);
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  return load.stop();
}
