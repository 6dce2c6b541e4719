/**
 * octi-connectors: entry point. Wiring only; the logic lives in `src/`.
 *
 * Exit status: 0 success, 1 runtime failure, 2 invalid configuration or arguments.
 */
import { stringify as toYaml } from "yaml";
import { type CliOptions, parseArgs, USAGE, UsageError } from "./src/cli.ts";
import { ConfigError, loadConfig, type LoadedConfig, printableConfig } from "./src/config/mod.ts";

/** Runs the program for the given arguments and resolves to its exit status. */
async function main(args: readonly string[]): Promise<number> {
  let cli: CliOptions;
  try {
    cli = parseArgs(args);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`octi-connectors: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (cli.help) {
    console.log(USAGE);
    return 0;
  }
  if (cli.demo || cli.healthcheck !== undefined) {
    console.error(`octi-connectors: ${cli.demo ? "--demo" : "--healthcheck"} is not available yet`);
    return 1;
  }

  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(cli.config === undefined ? {} : { file: cli.config });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  for (const warning of loaded.warnings) console.error(`warning: ${warning}`);
  const { config } = loaded;

  if (cli.printConfig) {
    const data = printableConfig(config);
    console.log(
      cli.printConfig === "json" ? JSON.stringify(data, null, 2) : toYaml(data).trimEnd(),
    );
    return 0;
  }
  if (cli.checkConfig) {
    console.log(`configuration is valid: ${config.connectors.join(", ")}`);
    return 0;
  }

  // ---------------------------------------------------------------------------------------------
  // LEAD: wire logging (setupLogging with secretValues(config)), the server and the connectors
  // here, honouring cli.once / cli.summaryJson / cli.target. Until then the program refuses to
  // pretend it runs.
  // ---------------------------------------------------------------------------------------------
  console.error("octi-connectors: connectors are not wired yet");
  return 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
