/** The contract between API clients and the Entra ID token provider. */

/** Hands out cached bearer tokens per scope. */
export interface TokenSource {
  /** A valid access token for the scope (e.g. `https://graph.microsoft.com/.default`). */
  getToken(scope: string, signal?: AbortSignal): Promise<string>;
  /** Drops the cached token for the scope (after a 401), so the next call fetches a new one. */
  invalidate(scope: string): void;
}
