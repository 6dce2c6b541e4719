/** What a connector declares about its configuration, for the generic loader and generators. */
import type { ConnectorPrefix, ReadContext } from "./common_settings.ts";
import type { AnyOption, FieldSpec } from "./option.ts";
import type { BaseConnectorConfig, ConnectorName } from "./types.ts";

/** A connector's settings as read, finished once the whole configuration has no problem. */
export interface PendingSettings<S> {
  /** The connector id, when valid (two connectors may not share one). */
  id: string | undefined;
  /** How to name the id in a message. */
  idLabel: string;
  /** The typed settings; call only when no problem was found. */
  value(): S;
}

/** A connector's configuration, declared once next to the connector (`src/<connector>/settings.ts`). */
export interface ConnectorSettings<S> {
  /** Name in `CONNECTORS`. */
  name: ConnectorName;
  /** Environment prefix and YAML section. */
  prefix: ConnectorPrefix;
  /** README table section of its own options. */
  section: string;
  /** Base connector options (`CONNECTOR_*`, prefixed first). */
  base: Readonly<Record<string, AnyOption>>;
  /** Its own options. */
  options: Readonly<Record<string, AnyOption>>;
  /** Options whose presence enables the connector when `CONNECTORS` is unset. */
  enabledBy: readonly FieldSpec[];
  /** What to configure to enable it, for the "no connector is configured" message. */
  howToEnable: string;
  /** Reads and validates its options (cross-option rules included). */
  read(context: ReadContext): PendingSettings<S>;
  /** Its base connector options within its settings. */
  connectorOf(settings: S): BaseConnectorConfig;
  /** Secret values in its settings (for the log redactor). */
  secrets(settings: S): string[];
}
