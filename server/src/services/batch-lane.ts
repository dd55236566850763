/**
 * The event loop's low-priority lane for batch streams. Batch work proceeds in steps (plan a chunk,
 * resolve its features, build its results, hand it to the encoder); a step first waits for its turn.
 * Turns are given one per event-loop iteration, and not at all while an online call is being scored —
 * unless the oldest step has waited `maxHoldMs`, so that a steady online load slows a batch down but
 * never stops it. Between two turns the loop polls its sockets, so an online call is read, scored and
 * answered after at most one batch step, not after everything the batch streams had ready at that
 * moment (`npm run bench -- --mixed` shows the difference in online p99). An idle loop spins through
 * its iterations at once, so a batch running alone loses little throughput.
 */
export interface BatchLane {
  /** Resolves when it is this step's turn. */
  turn(): Promise<void>;
  /** Marks an online call as being scored until the returned function is called. */
  online(): () => void;
}

/** A lane whose turns are given one per `setImmediate`, in the order they were asked for. */
export function createBatchLane(options: { maxHoldMs: number }): BatchLane {
  const waiting: Array<{ since: number; resolve: () => void }> = [];
  let scheduled = false;
  let held: NodeJS.Timeout | undefined;
  let onlineInFlight = 0;

  const release = () => {
    scheduled = false;
    const head = waiting[0];
    if (head === undefined) return;
    const waited = performance.now() - head.since;
    if (onlineInFlight > 0 && waited < options.maxHoldMs) {
      // Resumed by the last online call's end, or by this timer when it is the longest hold allowed.
      held ??= setTimeout(() => {
        held = undefined;
        schedule();
      }, options.maxHoldMs - waited);
      return;
    }
    waiting.shift();
    head.resolve();
    if (waiting.length > 0) schedule();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(release);
  };

  return {
    turn() {
      return new Promise<void>((resolve) => {
        waiting.push({ since: performance.now(), resolve });
        schedule();
      });
    },
    online() {
      onlineInFlight++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        if (--onlineInFlight === 0 && waiting.length > 0) schedule();
      };
    },
  };
}
