/**
 * `--demo`: the whole program against simulators, offline (`deno task demo`).
 *
 * Entry point: re-exports only. `run.ts` starts the simulators, the real configuration loader,
 * connectors and service; `drive.ts` runs the phases; `progress.ts` draws the progress line;
 * `changes.ts` and `drift.ts` change OpenCTI and the target; `summary.ts` reads the outcome.
 *
 * @module
 */
export { DEMO_EXIT, type DemoOptions, runDemo } from "./run.ts";
export { applyLiveChanges, DemoChangeError, type LiveChange } from "./changes.ts";
export * from "./sims.ts";
export * from "./summary.ts";
