/**
 * What each Microsoft API needs granted, and the settings to check when it refuses us: one text
 * per hint, used by every client and connector that reports a failure (reference `microsoft.md`:
 * §2 Graph, §3 Sentinel, §5 Defender; Graph security incidents need `SecurityIncident.Read.All`).
 *
 * @module
 */

/** The Graph application permission tiIndicators needs. */
export const GRAPH_PERMISSION = "ThreatIndicators.ReadWrite.OwnedBy";

/** The Graph application permission security incidents need. */
export const INCIDENTS_PERMISSION = "SecurityIncident.Read.All";

/** The access each API needs, as a phrase ("grant the app …"). */
export const ACCESS = {
  /** Graph tiIndicators. */
  graph: `the Microsoft Graph application permission ${GRAPH_PERMISSION}`,
  /** Graph security incidents. */
  incidents: `the Microsoft Graph application permission ${INCIDENTS_PERMISSION}`,
  /** Defender for Endpoint indicators. */
  defender: "the WindowsDefenderATP application permission Ti.ReadWrite (or Ti.ReadWrite.All)",
  /** The Sentinel upload and ARM threat-intelligence APIs. */
  sentinel: "the Microsoft Sentinel Contributor role on the workspace",
} as const;

/** What to do when an API answers 401 or 403 for lack of access. */
export const GRANT = {
  /** Graph tiIndicators. */
  graph: `grant the app ${ACCESS.graph} with admin consent`,
  /** Graph security incidents. */
  incidents: `grant the app ${ACCESS.incidents} with admin consent`,
  /** Defender for Endpoint indicators. */
  defender: `grant the app ${ACCESS.defender} with admin consent`,
  /** Sentinel (a role assignment, no consent). */
  sentinel: `grant the app ${ACCESS.sentinel} (propagation takes a while)`,
} as const;

/** The settings that make the app's credential. */
export const CREDENTIAL_SETTINGS =
  "TENANT_ID, CLIENT_ID, CLIENT_SECRET (or the certificate), LOGIN_URL";

/** What to check when a Microsoft API fails systemically: credential and access, then the rest. */
function systemicCheck(access: string, otherwise: string): string {
  return `on 401, 403 or a token error: ${CREDENTIAL_SETTINGS} and ${access}; ${otherwise}`;
}

/** What to check when Graph tiIndicators fails systemically. */
export const GRAPH_CHECK = systemicCheck(
  ACCESS.graph,
  "otherwise RESOURCE_URL, network access to it and Microsoft's service status",
);

/** What to check when Defender fails systemically. */
export const DEFENDER_CHECK = systemicCheck(
  ACCESS.defender,
  "otherwise DEFENDER_API_URL, network access to it and Microsoft's service status",
);

/** What to check when Sentinel fails systemically. */
export const SENTINEL_CHECK = systemicCheck(
  ACCESS.sentinel,
  "on 404: SENTINEL_WORKSPACE_ID and the workspace coordinates; otherwise network access to " +
    "the API and Microsoft's service status",
);
