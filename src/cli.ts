/** Command-line arguments: a pure parser and the `--help` text. */
import type { TargetName } from "./microsoft/target.ts";

/** What the command line asks for. */
export interface CliOptions {
  /** Print the help text and exit. */
  help: boolean;
  /** YAML configuration file (`--config FILE`). */
  config?: string;
  /** Validate the configuration and exit (`--check-config`). */
  checkConfig: boolean;
  /** Print the effective configuration, secrets redacted, in this format (`--print-config[=json]`). */
  printConfig?: "yaml" | "json";
  /** Print the JSON Schema of the configuration (`--print-config-schema[=CONNECTOR]`); `true` = the whole program. */
  printConfigSchema?: string | true;
  /** Run against the built-in simulators (`--demo`; arrives with the demo issue). */
  demo: boolean;
  /** Sentinel target override for the demo (`--target T`). */
  target?: TargetName;
  /** Simulated OpenCTI version for the demo (`--opencti-version V`). */
  openctiVersion?: string;
  /** RabbitMQ for the demo's simulated platform below 6.3 (`--rabbitmq-url URL`). */
  rabbitmqUrl?: string;
  /** Run each connector once and exit (`--once`). */
  once: boolean;
  /** Write a JSON summary of the run to this file (`--summary-json FILE`). */
  summaryJson?: string;
  /** Probe a running instance's `/readyz` (`--healthcheck [URL]`); `true` = the configured address. */
  healthcheck?: string | true;
}

/** The command line is wrong; the message says what to change. */
export class UsageError extends Error {
  /** The error's name. */
  override name = "UsageError";
}

/** The text printed by `--help`. */
export const USAGE = `octi-connectors: OpenCTI connectors for Microsoft Sentinel/Defender and Tanium

Usage: deno task start [options]
       octi-connectors [options]

Options:
  --config FILE          Read this YAML file (default: CONFIG_FILE, else ./config.yml if present).
                         Environment variables override the file.
  --check-config         Validate the configuration, print the enabled connectors, and exit.
  --print-config[=FMT]   Print the effective configuration with secrets redacted
                         (FMT: yaml (default) or json), and exit.
  --print-config-schema[=CONNECTOR]
                         Print the JSON Schema of the configuration (of one connector, in the
                         form of OpenCTI's connector_config_schema.json), and exit.
  --demo                 Run against the built-in simulators (no real service needed).
  --target T             Sentinel target for the demo: graph, sentinel or defender.
  --opencti-version V    Simulated OpenCTI version for the demo (default 6.8.10; e.g. 5.12.33).
  --rabbitmq-url URL     RabbitMQ the demo's simulated OpenCTI uses below 6.3 (amqp://user:pass@host:port).
  --once                 Run each enabled connector once, then exit.
  --summary-json FILE    Write a JSON summary of the run to FILE.
  --healthcheck [URL]    Exit 0 when the running instance's /readyz answers 200
                         (default URL: from SERVER_HOST/SERVER_PORT).
  -h, --help             Show this help.

Which connectors run: CONNECTORS=sentinel,tanium-incidents, or inferred from what is configured
(TENANT_ID/CLIENT_ID for sentinel, TANIUM_INCIDENTS_URL for tanium-incidents).
Every option is listed in README.md ("Configuration").

Exit status: 0 success, 1 runtime failure, 2 invalid configuration or arguments.`;

const TARGETS: readonly TargetName[] = ["graph", "sentinel", "defender"];

/** Parses the command line (without the program name); throws {@linkcode UsageError}. */
export function parseArgs(args: readonly string[]): CliOptions {
  const options: CliOptions = { help: false, checkConfig: false, demo: false, once: false };
  const rest = [...args];
  const takeValue = (flag: string, inline: string | undefined): string => {
    if (inline !== undefined) {
      if (inline === "") throw new UsageError(`${flag} needs a value: write ${flag}=VALUE`);
      return inline;
    }
    const next = rest.shift();
    if (next === undefined || next.startsWith("-")) {
      throw new UsageError(`${flag} needs a value: write ${flag} VALUE`);
    }
    return next;
  };
  const noValue = (flag: string, inline: string | undefined): void => {
    if (inline !== undefined) throw new UsageError(`${flag} takes no value; remove "=${inline}"`);
  };
  while (rest.length > 0) {
    const arg = rest.shift() as string;
    if (arg === "--") {
      if (rest.length > 0) throw new UsageError(`Unexpected argument "${rest[0]}"; see --help`);
      break;
    }
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith("--") && eq > 0 ? arg.slice(eq + 1) : undefined;
    switch (flag) {
      case "-h":
      case "--help":
        noValue(flag, inline);
        options.help = true;
        break;
      case "--config":
        options.config = takeValue(flag, inline);
        break;
      case "--check-config":
        noValue(flag, inline);
        options.checkConfig = true;
        break;
      case "--print-config": {
        const format = (inline ?? "yaml").toLowerCase();
        if (format !== "yaml" && format !== "json") {
          throw new UsageError(`--print-config takes yaml or json, not "${inline}"`);
        }
        options.printConfig = format;
        break;
      }
      case "--print-config-schema":
        options.printConfigSchema = inline === undefined ? true : takeValue(flag, inline);
        break;
      case "--demo":
        noValue(flag, inline);
        options.demo = true;
        break;
      case "--target": {
        const value = takeValue(flag, inline).toLowerCase();
        const target = TARGETS.find((name) => name === value);
        if (!target) {
          throw new UsageError(`--target takes graph, sentinel or defender, not "${value}"`);
        }
        options.target = target;
        break;
      }
      case "--opencti-version": {
        const value = takeValue(flag, inline);
        if (!/^\d+\.\d+(\.\d+)?([-.]?[a-z][a-z0-9.]*)?$/i.test(value)) {
          throw new UsageError(
            `--opencti-version takes a platform version such as 5.12.33, 6.8.10 or 7.261026.0, not "${value}"`,
          );
        }
        options.openctiVersion = value;
        break;
      }
      case "--rabbitmq-url": {
        const value = takeValue(flag, inline);
        if (!/^amqps?:\/\//.test(value) || !URL.canParse(value)) {
          throw new UsageError(
            `--rabbitmq-url takes a URL such as amqp://guest:guest@127.0.0.1:5672, not "${value}"`,
          );
        }
        options.rabbitmqUrl = value;
        break;
      }
      case "--once":
        noValue(flag, inline);
        options.once = true;
        break;
      case "--summary-json":
        options.summaryJson = takeValue(flag, inline);
        break;
      case "--healthcheck": {
        if (inline !== undefined) options.healthcheck = takeValue(flag, inline);
        else if (rest[0] !== undefined && !rest[0].startsWith("-")) {
          options.healthcheck = rest.shift() as string;
        } else options.healthcheck = true;
        if (typeof options.healthcheck === "string" && !URL.canParse(options.healthcheck)) {
          throw new UsageError(
            `--healthcheck takes a URL such as http://127.0.0.1:8080/healthz, not "${options.healthcheck}"`,
          );
        }
        break;
      }
      default:
        throw new UsageError(
          arg.startsWith("-")
            ? `Unknown option "${flag}"; see --help`
            : `Unexpected argument "${arg}"; see --help`,
        );
    }
  }
  if (options.checkConfig && options.printConfig) {
    throw new UsageError("Use either --check-config or --print-config, not both");
  }
  return options;
}
