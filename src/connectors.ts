/**
 * The connector registry: every connector this program hosts, in start order. `app.ts`,
 * `deploy.ts` and the demo iterate it; each entry's `settings` is also listed, without the
 * connector code, in `CONNECTOR_SETTINGS` (src/config/load.ts), and a test keeps the two in step.
 *
 * To add a connector: `src/<name>/settings.ts` (its options), `src/<name>/mod.ts` exporting a
 * {@linkcode ConnectorModule}, one entry here and one in `CONNECTOR_SETTINGS`.
 *
 * @module
 */
import type { ConnectorModule } from "./runtime/registry.ts";
import { sentinel } from "./sentinel/mod.ts";
import { taniumIncidents } from "./tanium/mod.ts";

/** Every hosted connector, in start order. */
export const CONNECTORS: readonly ConnectorModule<unknown>[] = [
  sentinel as ConnectorModule<unknown>,
  taniumIncidents as ConnectorModule<unknown>,
];
