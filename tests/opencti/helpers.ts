/** Shared setup of the OpenCTI client tests: a simulator on loopback and a client with fake waits. */
import { OpenCtiClient } from "../../src/opencti/graphql.ts";
import {
  type OpenCtiSim,
  type OpenCtiSimOptions,
  SIM_TOKEN,
  startOpenCtiSim,
} from "../../src/sim/opencti.ts";

/** The connector id used across tests. */
export const CONNECTOR_ID = "8ef3e1b8-6f0e-4f2a-9a53-3c1a1b3a6c11";

/** A fixed clock: 2024-06-10T06:13:20.123Z. */
export const NOW = Date.parse("2024-06-10T06:13:20.123Z");

/** What a test gets: the simulator, a client and the delays the client asked to sleep. */
export interface Harness {
  sim: OpenCtiSim;
  client: OpenCtiClient;
  sleeps: number[];
}

/** Starts a simulator, builds a client on it (instant sleep), runs `fn`, and always closes. */
export async function withSim(
  fn: (h: Harness) => Promise<void>,
  options: OpenCtiSimOptions & { token?: string } = {},
): Promise<void> {
  const sim = await startOpenCtiSim({ now: () => NOW, ...options });
  const sleeps: number[] = [];
  const client = new OpenCtiClient({
    url: sim.url,
    token: options.token ?? SIM_TOKEN,
    now: () => NOW,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    retry: { random: () => 0.5 },
  });
  try {
    await fn({ sim, client, sleeps });
  } finally {
    await sim.close();
  }
}
