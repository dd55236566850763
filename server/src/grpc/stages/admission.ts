import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { priorityOf } from '../../security/method-roles.js';
import type { CallPlan } from '../call-plan.js';

/** What the guards establish, in order, on the way to the {@link CallPlan}; a guard fills in its part. */
export interface Admission {
  principal: CallPlan['principal'] | undefined;
  deadline: CallPlan['deadline'];
}

/** The call a guard looks at. */
export type GuardedCall = Pick<
  ServerMiddlewareCall<unknown, unknown>,
  'method' | 'requestStream' | 'responseStream'
>;

/** What a guard that lets the call in may return: what to do when the call ends. */
export type Release = () => void;

/**
 * One admission check (lifecycle, authentication, authorization, rate limit, deadline): it throws an
 * `AppError` to refuse the call, or lets it in, writing what it established into `admission` (which later
 * guards read). Guards are plain functions, run in order by {@link admission}.
 */
export type Guard = (
  call: GuardedCall,
  context: CallContext,
  admission: Admission,
) => Release | undefined | Promise<Release | undefined>;

/** A guard that never waits (authorization): its verdict is at hand when it returns. */
export type SyncGuard = (
  call: GuardedCall,
  context: CallContext,
  admission: Admission,
) => Release | undefined;

/** A call let in: its plan, and what to run when it ends (the guards' releases, newest first). */
export interface Admitted {
  readonly plan: CallPlan;
  release(): void;
}

/** Runs the guards for a call: the {@link Admitted} call, or a thrown `AppError` refusing it. */
export type Admit = (
  call: GuardedCall,
  context: CallContext,
  trace: CallPlan['trace'],
) => Admitted | Promise<Admitted>;

/**
 * Runs `guards` in order and builds the {@link CallPlan} the handler receives. Guards fill in one
 * {@link Admission} (later guards read what earlier ones established). Only a guard that needs to wait
 * (JWT verification) costs a promise; API keys and every other check stay synchronous. If a guard refuses
 * the call, the releases of the guards before it run at once. Every guard list starts with authentication
 * or follows it, so a plan always names its principal.
 */
export function admission(guards: readonly Guard[]): Admit {
  return (call, context, trace) => new GuardRun(guards, call, context, trace).run(0);
}

/** One call's way through the guards: what they established, and what to release when it ends. */
class GuardRun implements Admitted {
  private readonly admission: Admission = { principal: undefined, deadline: undefined };
  private readonly releases: Release[] = [];
  plan!: CallPlan;

  constructor(
    private readonly guards: readonly Guard[],
    private readonly call: GuardedCall,
    private readonly context: CallContext,
    private readonly trace: CallPlan['trace'],
  ) {}

  /** Runs the guards from `from` on, synchronously until one has to wait. */
  run(from: number): Admitted | Promise<Admitted> {
    try {
      for (let i = from; i < this.guards.length; i++) {
        const verdict = this.guards[i]!(this.call, this.context, this.admission);
        if (verdict instanceof Promise) return this.resume(i + 1, verdict);
        if (verdict !== undefined) this.releases.push(verdict);
      }
      return this.admitted();
    } catch (error) {
      this.release();
      throw error;
    }
  }

  release(): void {
    for (let i = this.releases.length - 1; i >= 0; i--) this.releases[i]!();
  }

  private async resume(from: number, waiting: Promise<Release | undefined>): Promise<Admitted> {
    try {
      const verdict = await waiting;
      if (verdict !== undefined) this.releases.push(verdict);
    } catch (error) {
      this.release();
      throw error;
    }
    return this.run(from);
  }

  private admitted(): Admitted {
    const { principal, deadline } = this.admission;
    if (principal === undefined) throw new Error(`no authentication guard admitted ${this.call.method.path}`);
    const path = this.call.method.path;
    this.plan = new AdmittedPlan(this.context, deadline, priorityOf(path), principal, this.trace);
    return this;
  }
}

/**
 * The plan of an admitted call. A class rather than an object literal with a getter: V8 builds such a
 * literal on a slower path, once per call.
 */
class AdmittedPlan implements CallPlan {
  constructor(
    private readonly context: CallContext,
    readonly deadline: CallPlan['deadline'],
    readonly priority: CallPlan['priority'],
    readonly principal: CallPlan['principal'],
    readonly trace: CallPlan['trace'],
  ) {}

  /** Asked of the context only when something needs it: making it costs an AbortController per call. */
  get signal(): AbortSignal {
    return this.context.signal;
  }
}
