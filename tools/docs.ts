/**
 * `deno task docs`: writes the README configuration tables and `config.yml.sample` from the option
 * declarations (`src/<connector>/settings.ts`, `src/config/common_settings.ts`).
 */
import { configSample, readmeTables, withTables } from "../src/config/docs.ts";
import { CONNECTOR_SETTINGS } from "../src/config/mod.ts";

const root = new URL("../", import.meta.url);
const readmeUrl = new URL("README.md", root);
const readme = await Deno.readTextFile(readmeUrl);
await Deno.writeTextFile(readmeUrl, withTables(readme, readmeTables(CONNECTOR_SETTINGS)));
await Deno.writeTextFile(new URL("config.yml.sample", root), configSample(CONNECTOR_SETTINGS));
console.log("Wrote README.md (configuration tables) and config.yml.sample");
