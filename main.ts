/**
 * octi-connectors: entry point. Wiring only; the logic lives in `src/`.
 *
 * Exit status: 0 success, 1 runtime failure, 2 invalid configuration or arguments.
 */
import { stringify as toYaml } from "yaml";
import { type CliOptions, parseArgs, USAGE, UsageError } from "./src/cli.ts";
import { runService, startLogging } from "./src/app.ts";
import {
  ConfigError,
  CONNECTOR_SETTINGS,
  loadConfig,
  type LoadedConfig,
  printableConfig,
} from "./src/config/mod.ts";
import { configSchema } from "./src/config/schema.ts";
import { runDemo } from "./src/demo/mod.ts";
import { isDeploy, registerDeployCrons } from "./src/deploy.ts";
import { healthcheck } from "./src/healthcheck.ts";

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
  if (cli.healthcheck !== undefined) {
    return await healthcheck(cli.healthcheck === true ? undefined : cli.healthcheck);
  }
  if (cli.printConfigSchema !== undefined) {
    const name = cli.printConfigSchema === true ? undefined : cli.printConfigSchema;
    if (name !== undefined && !CONNECTOR_SETTINGS.some((c) => c.name === name)) {
      const names = CONNECTOR_SETTINGS.map((c) => c.name).join(" or ");
      console.error(`octi-connectors: --print-config-schema takes ${names}, not "${name}"`);
      return 2;
    }
    console.log(JSON.stringify(configSchema(CONNECTOR_SETTINGS, name), null, 2));
    return 0;
  }
  if (cli.demo) {
    return await runDemo({
      ...(cli.target ? { target: cli.target } : {}),
      ...(cli.upstreamNames ? { upstreamNames: true } : {}),
      ...(cli.openctiVersion ? { openctiVersion: cli.openctiVersion } : {}),
      ...(cli.rabbitmqUrl ? { rabbitmqUrl: cli.rabbitmqUrl } : {}),
      once: cli.once,
      ...(cli.summaryJson !== undefined ? { summaryJson: cli.summaryJson } : {}),
    });
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

  await startLogging(config);
  return await runService(config, cli.once ? { once: true } : {});
}

// Deno Deploy discovers crons only while the entry module is evaluated: register them here.
if (isDeploy((name) => Deno.env.get(name))) {
  const deploy = registerDeployCrons();
  if (deploy.error) console.error(deploy.error.message);
} else if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
