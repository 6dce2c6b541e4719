/**
 * The demo's progress line.
 *
 * @module
 */
import { DEMO_TANIUM_ID, type DemoSims } from "./sims.ts";

/**
 * The progress line while a phase runs: records in the target against what OpenCTI expects, the
 * rate of record changes (added or removed) since the phase began, and what tanium-incidents
 * delivered to OpenCTI. On a terminal it
 * rewrites itself; otherwise a line is printed when the counts change (at most twice a second).
 */
export class Progress {
  readonly #sims: DemoSims;
  readonly #write: (line: string) => void;
  readonly #live: boolean;
  #startedAt = Date.now();
  #before = new Set<string>();
  #last = "";
  #lastAt = 0;
  #open = false;

  constructor(sims: DemoSims, write: (line: string) => void, live: boolean) {
    this.#sims = sims;
    this.#write = write;
    this.#live = live;
  }

  /** Starts a phase (the rate counts from here). */
  begin(): void {
    this.#startedAt = Date.now();
    this.#before = new Set(this.#sims.stack.present());
    this.#last = "";
    this.#lastAt = 0;
  }

  async tick(final = false): Promise<void> {
    const { stack } = this.#sims;
    const now = new Set(stack.present());
    const present = stack.present().length;
    let changed = 0;
    for (const key of now) if (!this.#before.has(key)) changed++;
    for (const key of this.#before) if (!now.has(key)) changed++;
    const expected = (await stack.expected(Date.now())).size;
    const seconds = Math.max((Date.now() - this.#startedAt) / 1000, 0.001);
    const bundles = stack.opencti.control.graphql.bundles
      .filter((b) => b.connectorId === DEMO_TANIUM_ID);
    const incidents = new Set(
      bundles.flatMap((b) => b.bundle.objects).filter((o) => o.type === "incident").map((o) =>
        o.id
      ),
    ).size;
    const counts = `${this.#sims.target}: ${present}/${expected} records · tanium → OpenCTI: ` +
      `${bundles.length} bundles, ${incidents} incidents`;
    const line = `  ${counts} · ${(changed / seconds).toFixed(1)} record changes/s`;
    if (this.#live) {
      Deno.stdout.writeSync(new TextEncoder().encode(`\r${line.padEnd(90)}`));
      this.#open = true;
    } else if (counts !== this.#last && (final || Date.now() - this.#lastAt >= 500)) {
      this.#write(line);
      this.#last = counts;
      this.#lastAt = Date.now();
    }
  }

  /** Ends a phase: the final counts stay on screen. */
  async done(): Promise<void> {
    await this.tick(true);
    if (this.#open) Deno.stdout.writeSync(new TextEncoder().encode("\n"));
    this.#open = false;
  }
}
