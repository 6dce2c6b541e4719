/** `--healthcheck`: probes the local `/readyz` for Docker's HEALTHCHECK (distroless has no curl). */
import { COMMON_OPTIONS } from "./config/common_settings.ts";
import type { Fetch } from "./runtime/http.ts";
import { errorMessage } from "./runtime/errors.ts";

/** Options of {@linkcode healthcheck}. */
export interface HealthcheckOptions {
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch;
  /** Environment lookup for the default address. @default Deno.env.get */
  env?: (name: string) => string | undefined;
  /** Time allowed, in ms. @default 3000 */
  timeoutMs?: number;
}

/** The URL probed when none is given: `/readyz` on the configured port of this machine. */
export function defaultHealthUrl(env: (name: string) => string | undefined): string {
  const port = env("SERVER_PORT") ?? env("DENO_SERVE_ADDRESS")?.split(":").pop() ??
    String(COMMON_OPTIONS.serverPort.default);
  return `http://127.0.0.1:${port}/readyz`;
}

/** Resolves 0 when the URL answers 200, else 1 (with the reason on stderr). */
export async function healthcheck(url?: string, options: HealthcheckOptions = {}): Promise<number> {
  const target = url ?? defaultHealthUrl(options.env ?? ((name) => Deno.env.get(name)));
  try {
    const response = await (options.fetch ?? fetch)(target, {
      signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
    });
    await response.body?.cancel();
    if (response.status === 200) return 0;
    console.error(`healthcheck: ${target} answered ${response.status}`);
  } catch (error) {
    console.error(
      `healthcheck: ${target} is unreachable: ${errorMessage(error)}`,
    );
  }
  return 1;
}
