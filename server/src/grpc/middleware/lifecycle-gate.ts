import { errors } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle/lifecycle.js';
import type { Guard } from './admission.js';

/**
 * Lets calls in only while the server is `serving` (UNAVAILABLE while starting or draining, which
 * clients with a retry policy retry elsewhere) and counts the calls in flight.
 */
export function lifecycleGuard(lifecycle: Lifecycle): Guard {
  const release = () => lifecycle.callEnded();
  return () => {
    if (lifecycle.state !== 'serving') throw errors.notServing(lifecycle.state);
    lifecycle.callStarted();
    return { release };
  };
}
