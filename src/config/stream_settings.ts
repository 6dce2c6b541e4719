/**
 * What the stream connectors (sentinel, tanium-intel) declare and read alike, declared once: the
 * base and live-stream options, the `STREAM` connector block, and the delivery options (the
 * longest backoff of a held batch, the dead letters' limit and file).
 *
 * @module
 */
import {
  type BaseDefaults,
  baseOptions,
  type BaseRead,
  type ConnectorPrefix,
  liveStreamOptions,
  MAX_BACKOFF_DEFAULT,
  MAX_BACKOFF_DEFAULT_MS,
  must,
  prefixedOption,
} from "./common_settings.ts";
import type { Reader } from "./source.ts";
import type { LiveStreamConfig, StreamConnectorConfig } from "./types.ts";
import * as val from "./values.ts";
import { opt } from "../runtime/props.ts";

/** The base connector options and the live-stream options of a stream connector. */
export function streamBaseOptions(prefix: ConnectorPrefix, defaults: BaseDefaults) {
  return { ...baseOptions(prefix, defaults), ...liveStreamOptions(prefix, defaults) };
}

/** The `STREAM` connector block of a stream connector's settings, from its base and live stream. */
export function streamConnectorOf(
  base: BaseRead,
  liveStream: () => LiveStreamConfig,
): StreamConnectorConfig {
  return {
    ...base.value(),
    type: "STREAM",
    ...opt("durationPeriod", base.duration?.text),
    ...opt("periodMs", base.duration?.ms),
    liveStream: liveStream(),
  };
}

/** What differs between connectors in the delivery options. */
export interface DeliveryDefaults {
  /** The dead-letter file when none is set (outside Deno Deploy). */
  deadLetterFile: string;
  /** The systemic failures that hold a batch, as the docs list them. */
  systemic: string;
}

/** `<PREFIX>MAX_BACKOFF`, `<PREFIX>DEAD_LETTER_LIMIT` and `<PREFIX>DEAD_LETTER_FILE`. */
export function deliveryOptions(
  prefix: ConnectorPrefix,
  section: string,
  defaults: DeliveryDefaults,
) {
  const own = prefixedOption(prefix, section);
  return {
    maxBackoff: own("MAX_BACKOFF", {
      schema: val.duration(),
      defaultDoc: `\`${MAX_BACKOFF_DEFAULT}\``,
      meaning: "ISO-8601 duration: longest wait between two tries of a batch held by a systemic " +
        `failure (${defaults.systemic}); such a batch is retried without a cap.`,
      example: "PT5M",
    }),
    deadLetterLimit: own("DEAD_LETTER_LIMIT", {
      schema: val.integer(1, 1_000_000),
      default: 10_000,
      meaning: "Most dead letters kept; beyond it the oldest leaves the list and is counted as " +
        "overflow.",
    }),
    deadLetterFile: own("DEAD_LETTER_FILE", {
      schema: val.text(),
      defaultDoc: `\`${defaults.deadLetterFile}\` (Deno Deploy: \`none\`)`,
      meaning: "JSON file that keeps the dead letters across restarts (its folder is created on " +
        "the first save and must be writable); `none` keeps them in memory only.",
      example: defaults.deadLetterFile,
    }),
  };
}

/** The delivery settings a stream connector receives. */
export interface DeliverySettings {
  /** Longest wait between two tries of a held batch, in ms. */
  maxBackoffMs: number;
  /** Most dead letters kept. */
  deadLetterLimit: number;
  /** Dead-letter file; `none` = memory; unset = the default (memory on Deno Deploy). */
  deadLetterFile?: string;
}

/** Reads the delivery options (a backoff must be longer than 0); the settings once valid. */
export function readDelivery(
  reader: Reader,
  options: ReturnType<typeof deliveryOptions>,
): () => DeliverySettings {
  const maxBackoff = reader.get(options.maxBackoff);
  const deadLetterLimit = reader.get(options.deadLetterLimit);
  const deadLetterFile = reader.get(options.deadLetterFile);
  if (maxBackoff !== undefined && maxBackoff.ms <= 0) {
    reader.problem(
      `${reader.label(options.maxBackoff)}: expected a duration longer than 0, e.g. "PT5M"`,
    );
  }
  return () => ({
    maxBackoffMs: maxBackoff?.ms ?? MAX_BACKOFF_DEFAULT_MS,
    deadLetterLimit: must(deadLetterLimit),
    ...opt("deadLetterFile", deadLetterFile),
  });
}
