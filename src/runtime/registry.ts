/** What each connector module exports so the program can host it without knowing it. */
import type { ConnectorSettings } from "../config/connector_settings.ts";
import type { ConnectorName } from "../config/types.ts";
import type { Metrics } from "../metrics.ts";
import type { OpenCtiClient } from "../opencti/graphql.ts";
import type { Now, Sleep } from "./clock.ts";
import type { Connector } from "./connector.ts";
import type { Fetch } from "./http.ts";

/** The shared things a connector is built with. */
export interface ConnectorDeps {
  /** The OpenCTI platform: its URL and token, a fresh GraphQL client, the TLS-configured fetch. */
  opencti: {
    /** Platform base URL. */
    url: string;
    /** API token. Secret. */
    token: string;
    /** A new GraphQL client for this connector. */
    client(): OpenCtiClient;
    /** The fetch configured for the platform (CA file, TLS verification). */
    fetch: Fetch;
  };
  /** The fetch for the remote services (tests and the demo pass simulators). @default TLS-configured globalThis.fetch */
  fetch?: Fetch;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep. @default a real timer */
  sleep?: Sleep;
  /** The metrics registry. @default none */
  metrics?: Metrics;
  /**
   * The host has no writable disk (Deno Deploy): a file option left unset keeps its data in memory.
   * @default false
   */
  diskless?: boolean;
}

/** A hosted connector: its name, its declared settings, and how to build it from them. */
export interface ConnectorModule<S> {
  /** Name in `CONNECTORS`, logs, metrics and routes. */
  name: ConnectorName;
  /** Its options, declared once. */
  settings: ConnectorSettings<S>;
  /** Its Deno Deploy cron schedule (five fields, UTC). */
  cronSchedule(settings: S): string;
  /**
   * The Deno Deploy schedule of its reconciles (a cron of its own calling `reconcile()`), or
   * undefined for none. @default none
   */
  reconcileSchedule?(settings: S): string | undefined;
  /** Builds the connector from its typed settings. */
  create(settings: S, deps: ConnectorDeps): Promise<Connector>;
}
