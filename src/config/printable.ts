/** The configuration as it may be shown: secrets listed for the redactor, or replaced. */
import { CONNECTOR_SETTINGS, settingsOf } from "./load.ts";
import type { Config } from "./types.ts";

/** What replaces a secret in printed configuration. */
export const REDACTED = "[REDACTED]";

/** The configured secret values (tokens, client secret), for the log redactor. */
export function secretValues(config: Config): string[] {
  // The common secrets (OPENCTI_TOKEN, SERVER_ADMIN_TOKEN), then each connector's own.
  const values = [
    config.opencti.token,
    config.server.adminToken ?? "",
    ...CONNECTOR_SETTINGS.flatMap((c) => {
      const settings = settingsOf(config, c.name);
      return settings === undefined ? [] : c.secrets(settings);
    }),
  ];
  return [...new Set(values.filter((value) => value !== ""))];
}

/** Property names whose values are secrets wherever they appear. */
const SECRET_KEYS = new Set([
  "token",
  "clientSecret",
  "adminToken",
  "identityHeader",
  "msiSecret",
]);

/** The effective configuration as plain data, with every secret replaced by `[REDACTED]`. */
export function printableConfig(config: Config): Record<string, unknown> {
  const secrets = new Set(secretValues(config));
  return redact(config, secrets) as Record<string, unknown>;
}

function redact(node: unknown, secrets: ReadonlySet<string>): unknown {
  if (Array.isArray(node)) return node.map((item) => redact(item, secrets));
  if (node !== null && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      out[key] = SECRET_KEYS.has(key) && value !== undefined ? REDACTED : redact(value, secrets);
    }
    return out;
  }
  if (typeof node === "string") {
    let text = node;
    for (const secret of secrets) {
      if (secret.length >= 4) text = text.replaceAll(secret, REDACTED);
    }
    return secrets.has(node) ? REDACTED : text;
  }
  return node;
}
