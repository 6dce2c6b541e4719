/** Waiting on a promise that the caller may stop waiting for. */

/**
 * Settles as `promise` does, or rejects with the signal's reason as soon as the signal aborts
 * (the promise itself runs on; only the wait stops).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
