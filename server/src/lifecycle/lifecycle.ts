import { setImmediate as nextMacrotask } from 'node:timers/promises';

/**
 * The server's lifecycle states:
 *
 * - `starting`: the port is open, health says NOT_SERVING, scoring calls get UNAVAILABLE while the
 *   database is prepared and the models load and warm up;
 * - `serving`: health says SERVING and calls are taken;
 * - `draining`: after SIGTERM/SIGINT: health says NOT_SERVING, new calls get UNAVAILABLE, in-flight calls
 *   finish (streams stop reading and finish the chunks they hold) until the shutdown grace runs out;
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
   * Aborted when draining begins, a moment after health turned NOT_SERVING, so that long-lived calls
   * (health Watch, ScoreStream) can end after telling their client.
   */
  get drainSignal(): AbortSignal {
    return this.drainController.signal;
  }

  /** Calls `listener` on every state change (synchronously, in registration order). */
  onChange(listener: (state: LifecycleState) => void): void {
    this.listeners.push(listener);
  }

  /** starting → serving. */
  markServing(): void {
    this.moveTo('serving');
  }

  /** → draining: listeners (health) run first, then long-lived calls are told to finish. */
  async beginDrain(): Promise<void> {
    if (!this.moveTo('draining')) return;
    // Let health Watch streams write NOT_SERVING before they are ended.
    await nextMacrotask();
    await nextMacrotask();
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
