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

/** A call let in: its plan, and what to run when it ends (the guards' releases, newest first). */
export interface Admitted {
  readonly plan: CallPlan;
  readonly release: () => void;
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
  return (call, context, trace) => {
    const admission: Admission = { principal: undefined, deadline: undefined };
    const releases: Release[] = [];
    const release = () => {
      for (let i = releases.length - 1; i >= 0; i--) releases[i]!();
    };
    const admitted = (): Admitted => {
      const { principal, deadline } = admission;
      if (principal === undefined) throw new Error(`no authentication guard admitted ${call.method.path}`);
      const plan = {
        signal: context.signal,
        deadline,
        priority: priorityOf(call.method.path),
        principal,
        trace,
      };
      return { plan, release };
    };
    const rest = async (from: number, waiting: Promise<Release | undefined>): Promise<Admitted> => {
      try {
        const first = await waiting;
        if (first !== undefined) releases.push(first);
        for (let i = from; i < guards.length; i++) {
          const verdict = await guards[i]!(call, context, admission);
          if (verdict !== undefined) releases.push(verdict);
        }
        return admitted();
      } catch (error) {
        release();
        throw error;
      }
    };
    try {
      for (let i = 0; i < guards.length; i++) {
        const verdict = guards[i]!(call, context, admission);
        if (verdict instanceof Promise) return rest(i + 1, verdict);
        if (verdict !== undefined) releases.push(verdict);
      }
      return admitted();
    } catch (error) {
      release();
      throw error;
    }
  };
}
