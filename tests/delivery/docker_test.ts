/**
 * The Docker files cannot be built here (no Docker engine): these checks keep them true to the
 * program they package (stages, health check, entry point, variable names).
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { knownEnvNames } from "../../src/config/mod.ts";

const read = (name: string) => Deno.readTextFile(new URL(`../../${name}`, import.meta.url));

Deno.test("the Dockerfile builds with deno 2.9.6, compiles, and runs the binary on distroless as non-root", async () => {
  const dockerfile = await read("Dockerfile");
  const from = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(from, ["denoland/deno:2.9.6", "gcr.io/distroless/cc-debian12:nonroot"]);
  assert.match(dockerfile, /deno task check && deno task compile/);
  assert.match(dockerfile, /^USER 65532:65532$/m);
  assert.match(dockerfile, /^EXPOSE 8080$/m);
  assert.match(dockerfile, /CMD \["\/app\/octi-connectors", "--healthcheck"\]/);
  assert.match(dockerfile, /^ENTRYPOINT \["\/app\/octi-connectors"\]$/m);
  const compile = JSON.parse(await read("deno.json")).tasks.compile as string;
  assert.match(compile, /--output dist\/octi-connectors main\.ts$/);
  assert.match(dockerfile, /\/app\/dist\/octi-connectors /, "copies what the compile task writes");
});

Deno.test("docker-compose.yml only sets variables the configuration loader reads", async () => {
  const compose = parse(await read("docker-compose.yml")) as {
    services: Record<string, { environment: string[] }>;
  };
  const known = knownEnvNames();
  const names = Object.values(compose.services)
    .flatMap((service) => service.environment.map((entry) => entry.split("=")[0] ?? ""));
  assert.ok(names.length > 20);
  assert.deepEqual(names.filter((name) => !known.has(name)), []);
});

Deno.test(".dockerignore keeps secrets and local state out of the build context", async () => {
  const ignored = (await read(".dockerignore")).split("\n").map((line) => line.trim());
  for (const entry of ["config.yml", ".env", "*.pem", "*.key", "dist", ".git"]) {
    assert.ok(ignored.includes(entry), `${entry} is ignored`);
  }
});
