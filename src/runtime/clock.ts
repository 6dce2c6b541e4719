/** Injected time: every module that waits or reads the time takes these through its options. */

/** Returns the current time in epoch milliseconds. */
export type Now = () => number;

/** Waits `ms` milliseconds; rejects with the signal's reason when the signal aborts first. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The real clock. */
export const systemNow: Now = () => Date.now();

/** A real, abortable sleep. */
export const systemSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Starts a timer and returns a function that cancels it. */
export type SetTimer = (callback: () => void, ms: number) => () => void;

/** A real timer (`setTimeout`). */
export const systemSetTimer: SetTimer = (callback, ms) => {
  const id = setTimeout(callback, ms);
  return () => clearTimeout(id);
};
