import { setImmediate as nextMacrotask, setTimeout as sleep } from 'node:timers/promises';

/**
 * The server's lifecycle states:
 *
 * - `starting`: the port is open, health says NOT_SERVING, scoring calls get UNAVAILABLE while the
 *   database is prepared and the models load and warm up;
 * - `serving`: health says SERVING and calls are taken;
 * - `draining`: after SIGTERM/SIGINT: health says NOT_SERVING at once. For the drain delay
 *   (SHUTDOWN_DRAIN_DELAY_MS, "lame duck") calls are still taken, so that load balancers and clients that
 *   watch health move away before anything is refused; then new calls get UNAVAILABLE, the port closes
 *   (GOAWAY) and in-flight calls finish (streams stop reading and finish the chunks they hold) until the
 *   shutdown grace runs out;
 * - `stopped`: everything is closed.
 *
 * States only move forward.
 */
export type LifecycleState = 'starting' | 'serving' | 'draining' | 'stopped';

const ORDER: readonly LifecycleState[] = ['starting', 'serving', 'draining', 'stopped'];

/** Tracks the lifecycle state and the calls in flight. */
export class Lifecycle {
  private current: LifecycleState = 'starting';
  private calls = 0;
  private readonly drainController = new AbortController();
  private readonly listeners: Array<(state: LifecycleState) => void> = [];

  /** The current state. */
  get state(): LifecycleState {
    return this.current;
  }

  /** Calls currently running (unary and streaming). */
  get inFlight(): number {
    return this.calls;
  }

  /**
   * Aborted when the drain delay is over (at least a moment after health turned NOT_SERVING), so that
   * long-lived calls (health Watch, ScoreStream) can end after telling their client.
   */
  get drainSignal(): AbortSignal {
    return this.drainController.signal;
  }

  /** Whether new calls are taken: while serving, and while draining until the drain delay is over. */
  get acceptingCalls(): boolean {
    return (
      this.current === 'serving' || (this.current === 'draining' && !this.drainController.signal.aborted)
    );
  }

  /** Calls `listener` on every state change (synchronously, in registration order). */
  onChange(listener: (state: LifecycleState) => void): void {
    this.listeners.push(listener);
  }

  /** starting → serving. */
  markServing(): void {
    this.moveTo('serving');
  }

  /**
   * → draining: listeners (health) run first; calls are still taken for `delayMs`, then long-lived calls
   * are told to finish and new ones are refused. Resolves when the delay is over.
   */
  async beginDrain(delayMs = 0): Promise<void> {
    if (!this.moveTo('draining')) return;
    // Let health Watch streams write NOT_SERVING before they are ended.
    await nextMacrotask();
    await nextMacrotask();
    if (delayMs > 0) await sleep(delayMs);
    this.drainController.abort();
  }

  /** → stopped. */
  markStopped(): void {
    this.moveTo('stopped');
    this.drainController.abort();
  }

  /** Counts a call in; pair with {@link callEnded}. */
  callStarted(): void {
    this.calls++;
  }

  /** Counts a call out. */
  callEnded(): void {
    this.calls--;
  }

  private moveTo(next: LifecycleState): boolean {
    if (ORDER.indexOf(next) <= ORDER.indexOf(this.current)) return false;
    this.current = next;
    this.listeners.forEach((listener) => listener(next));
    return true;
  }
}
