import { errors } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle/lifecycle.js';
import type { Guard } from './admission.js';

/**
 * Lets calls in only while the server takes them (`Lifecycle.acceptingCalls`: serving, or draining within
 * the drain delay; UNAVAILABLE while starting and once the drain delay is over, which clients with a retry
 * policy retry elsewhere) and counts the calls in flight.
 */
export function lifecycleGuard(lifecycle: Lifecycle): Guard {
  const release = () => lifecycle.callEnded();
  return () => {
    if (!lifecycle.acceptingCalls) throw errors.notServing(lifecycle.state);
    lifecycle.callStarted();
    return release;
  };
}
