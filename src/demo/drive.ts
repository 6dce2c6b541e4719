/**
 * The demo's phases: wait for the initial sync and import, the Tanium loop (tanium-intel →
 * alert → tanium-incidents), the live changes in OpenCTI, the drift and reconcile, then the summary.
 *
 * @module
 */
import { compareEventIds } from "../sim/opencti_store.ts";
import type { Connector } from "../runtime/connector.ts";
import type { ReconcileReport } from "../sentinel/reconcile.ts";
import { errorMessage } from "../runtime/errors.ts";
import { applyLiveChanges, type LiveChange } from "./changes.ts";
import { DEMO_TANIUM_ID, type DemoSims } from "./sims.ts";
import {
  collectSummary,
  DEMO_INTEL_SOURCE,
  type DemoSummary,
  type SummaryReport,
} from "./summary.ts";
import { makeDrift } from "./drift.ts";
import { Progress } from "./progress.ts";

/** What {@linkcode drive} found. */
export interface DriveResult {
  report: SummaryReport;
  problems: string[];
  changes: LiveChange[];
  stoppedWith?: number;
}

/** Waits for the initial sync and import, makes the live changes, waits again, reads the summary. */
export async function drive(
  sims: DemoSims,
  connectors: Connector[],
  o: {
    write: (line: string) => void;
    live: boolean;
    phaseTimeoutMs: number;
    ended: Promise<{ code: number }>;
    /** The connector runs with the upstream connector's names (`DemoOptions.upstreamNames`). */
    upstreamNames: boolean;
  },
): Promise<DriveResult> {
  const sentinel = connectors.find((c) => c.name === "sentinel");
  const tanium = connectors.find((c) => c.name === "tanium-incidents");
  const msIncidents = connectors.find((c) => c.name === "microsoft-incidents");
  const intel = connectors.find((c) => c.name === "tanium-intel");
  const problems: string[] = [];
  let changes: LiveChange[] = [];
  const progress = new Progress(sims, o.write, o.live);
  const synced = async () => {
    const expected = await sims.stack.expected(Date.now());
    const present = sims.stack.present();
    return present.length === expected.size && present.every((key) => expected.has(key));
  };
  const imported = () =>
    tanium?.status().lastRunAt !== undefined &&
    (msIncidents === undefined || msIncidents.status().lastRunAt !== undefined);
  // Updates keep the same records, so "synced" alone cannot see them: wait for the saved stream
  // position to reach the last indicator event too.
  const caughtUpFor = (connector: Connector | undefined) => {
    if (connector === undefined) return true;
    const cursor = connector.status().details?.cursor;
    const last = sims.stack.opencti.store.events().findLast((e) => e.data.type === "indicator");
    return last === undefined ||
      (typeof cursor === "string" && compareEventIds(cursor, last.id) >= 0);
  };
  const caughtUp = () => caughtUpFor(sentinel) && caughtUpFor(intel);
  /** One phase: the progress line runs while waiting for `condition`. */
  const phase = async (condition: () => Promise<boolean>) => {
    progress.begin();
    const outcome = await waitFor(condition, {
      timeoutMs: o.phaseTimeoutMs,
      ended: o.ended,
      tick: () => progress.tick(),
    });
    await progress.done();
    return outcome;
  };

  o.write(
    `Syncing the seeded indicators to ${sims.target} and importing the Tanium alerts into OpenCTI…`,
  );
  const first = await phase(async () => await synced() && imported());
  if (first.stopped !== undefined) {
    return { ...await report(), problems, changes, stoppedWith: first.stopped };
  }
  if (!first.ok) {
    problems.push(`the initial sync or import did not finish in ${o.phaseTimeoutMs} ms`);
  }
  const lastRun = tanium?.status().details?.lastRun as { outcome?: string; error?: string } | null;
  if (lastRun && lastRun.outcome !== "success") {
    problems.push(
      `the tanium-incidents run ended with "${lastRun.outcome}": ${lastRun.error ?? ""}`,
    );
  }
  const msRun = msIncidents?.status().details?.lastRun as
    | { outcome?: string; error?: string }
    | null
    | undefined;
  if (msRun && msRun.outcome !== "success") {
    problems.push(
      `the microsoft-incidents run ended with "${msRun.outcome}": ${msRun.error ?? ""}`,
    );
  }

  if (first.ok && intel !== undefined && tanium !== undefined) {
    const loop = await intelLoop(sims, intel, tanium, caughtUpFor, o);
    if (loop.stopped !== undefined) {
      return { ...await report(), problems, changes, stoppedWith: loop.stopped };
    }
    problems.push(...loop.problems);
  }

  if (first.ok) {
    const syncedIndicators = sims.stack.opencti.store.list("indicator").filter((o) =>
      sims.stack.present().some((key) => key.startsWith(`${o.id} `))
    );
    changes = await applyLiveChanges(sims.stack.opencti.url, syncedIndicators);
    o.write(
      `Changed OpenCTI: ${
        changes.map((c) => `${c.kind} "${c.name}"`).join(", ")
      }; following the live stream…`,
    );
    const second = await phase(async () => await synced() && caughtUp());
    if (second.stopped !== undefined) {
      return { ...await report(), problems, changes, stoppedWith: second.stopped };
    }
    if (!second.ok) problems.push(`the live changes did not reach ${sims.target} in time`);
  }
  let reconciled: DemoSummary["reconcile"];
  if (first.ok && sentinel?.reconcile) {
    const synced = sims.stack.opencti.store.list("indicator").filter((o) =>
      sims.stack.present().some((key) => key.startsWith(`${o.id} `))
    );
    const drift = makeDrift(sims, synced, { upstreamNames: o.upstreamNames });
    if (drift) {
      o.write(
        `Made drift in ${sims.target}: deleted the records of ${drift.deleted}, added an orphan ` +
          `${drift.orphan}, replaced ${drift.upstream} by an upstream connector's record; reconciling…`,
      );
      try {
        const done = await sentinel.reconcile({}) as ReconcileReport;
        reconciled = {
          missing: done.drift.missing,
          orphans: done.drift.orphans,
          adopted: done.adopted,
          converged: done.converged === true,
        };
        o.write(
          `Reconciled: ${done.created} created, ${done.updated} updated, ${done.deleted} deleted, ` +
            `${done.adopted} adopted, converged: ${done.converged === true}`,
        );
      } catch (error) {
        problems.push(`the reconcile failed: ${errorMessage(error)}`);
      }
    }
  }
  await sims.queue?.drained();
  await sims.stack.opencti.control.graphql.settled();
  const final = await report();
  if (reconciled) final.report.summary.reconcile = reconciled;
  return { ...final, problems, changes };

  async function report(): Promise<{ report: SummaryReport }> {
    return {
      report: await collectSummary(
        sims,
        DEMO_TANIUM_ID,
        sentinel ? { sentinel: sentinel.status() } : {},
      ),
    };
  }
}

/**
 * The Tanium loop: waits for tanium-intel to send the indicators to Tanium and write the
 * documents back, has Tanium raise an alert on an endpoint for some of them (as a deployed
 * document does when it matches), then runs tanium-incidents so that those alerts become
 * incidents and sightings of the same indicators.
 */
async function intelLoop(
  sims: DemoSims,
  intel: Connector,
  tanium: Connector,
  caughtUpFor: (connector: Connector) => boolean,
  o: { write: (line: string) => void; phaseTimeoutMs: number; ended: Promise<{ code: number }> },
): Promise<{ problems: string[]; stopped?: number }> {
  const created = new Set(sims.tanium.control.intelActivity.created);
  const documented = (): number[] => {
    const ids = new Set<number>();
    for (const indicator of sims.stack.opencti.store.list("indicator")) {
      const refs = Array.isArray(indicator.external_references)
        ? indicator.external_references
        : [];
      for (const ref of refs) {
        if (typeof ref !== "object" || ref === null) continue;
        const r = ref as Record<string, unknown>;
        const id = Number(r.external_id);
        if (r.source_name === DEMO_INTEL_SOURCE && sims.tanium.control.intel(id)) ids.add(id);
      }
    }
    for (const id of sims.tanium.control.intelActivity.created) created.add(id);
    return [...ids].filter((id) => created.has(id)).sort((a, b) => a - b);
  };
  o.write("Sending the indicators to Tanium Threat Response as intel documents (tanium-intel)…");
  const sent = await waitFor(() => caughtUpFor(intel) && documented().length > 0, {
    timeoutMs: o.phaseTimeoutMs,
    ended: o.ended,
    tick: () => Promise.resolve(),
  });
  if (sent.stopped !== undefined) return { problems: [], stopped: sent.stopped };
  if (!sent.ok) return { problems: ["tanium-intel wrote no intel document back in time"] };
  const ids = documented().slice(0, 3);
  for (const id of ids) sims.tanium.control.raiseAlertFor(id, `DEMO-ENDPOINT-${id}`);
  o.write(
    `Tanium raised ${ids.length} alerts for intel documents ${ids.join(", ")}; ` +
      "importing them with tanium-incidents…",
  );
  // A run already under way may predate the alerts: the second one starts after them.
  await tanium.runOnce();
  const ok = await tanium.runOnce();
  // Let the platform import those bundles (below 6.3 they wait in its RabbitMQ) before the demo
  // changes OpenCTI: a sighting must not arrive after its indicator was deleted.
  await sims.queue?.drained();
  await sims.stack.opencti.control.graphql.settled();
  return { problems: ok ? [] : ["the tanium-incidents run after the intel alerts failed"] };
}

/** Polls `condition` every 100 ms until it holds, the time is up, or the service ends. */
async function waitFor(
  condition: () => boolean | Promise<boolean>,
  o: { timeoutMs: number; ended: Promise<{ code: number }>; tick: () => Promise<void> },
): Promise<{ ok: boolean; stopped?: number }> {
  const deadline = Date.now() + o.timeoutMs;
  let stopped: number | undefined;
  void o.ended.then(({ code }) => stopped = code);
  while (true) {
    await o.tick();
    if (stopped !== undefined) return { ok: false, stopped };
    if (await condition()) return { ok: true };
    if (Date.now() >= deadline) return { ok: false };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
