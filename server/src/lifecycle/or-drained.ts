/** What {@link orDrained} resolves to when the server began draining first. */
export const DRAINED = Symbol('drained');

/**
 * `promise`, or {@link DRAINED} if `drainSignal` aborts first. The abort listener lives only as long as
 * this one wait. Racing every read of a stream against one long-lived "drained" promise instead would
 * leave a reaction on that promise per read (Promise.race never removes its own) and a listener on the
 * signal per stream, so memory would grow with every chunk of every stream until the server stops.
 */
export function orDrained<T>(promise: Promise<T>, drainSignal: AbortSignal): Promise<T | typeof DRAINED> {
  if (drainSignal.aborted) return Promise.resolve(DRAINED);
  return new Promise((resolve, reject) => {
    const onDrain = () => resolve(DRAINED);
    drainSignal.addEventListener('abort', onDrain, { once: true });
    promise.then(
      (value) => {
        drainSignal.removeEventListener('abort', onDrain);
        resolve(value);
      },
      (error: unknown) => {
        drainSignal.removeEventListener('abort', onDrain);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
