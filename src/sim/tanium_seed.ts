/**
 * Seed data for the Tanium simulator (reference `tanium.md` §2.3-§2.5 and §6): the public sample
 * alert, intel documents of every kind the converter handles, alerts covering the edge cases, a
 * burst of more than 500 alerts in one second, late-arriving alerts, a seeded generator for volume
 * tests, and the companion seed of the OpenCTI simulator (indicators carrying the intel external
 * references that the Tanium intel stream connector writes, §2.7).
 *
 * Everything is deterministic: no clock, no unseeded random.
 *
 * @module
 */
import { fileIdOf, indicatorIdOf, TLP_MARKING_IDS } from "./opencti_ids.ts";
import type { StixObject } from "../stix/types.ts";
import type { OpenCtiStore } from "./opencti_store.ts";
import { seededRandom } from "./seeded_random.ts";

/** A Tanium alert as the API serves it (JSON; `details` is a JSON string). */
export type SimAlert = Record<string, unknown> & { id: number; alertedAt: string };

/** A Tanium intel document as the API serves it under `data`. */
export type SimIntel = Record<string, unknown> & { id: number };

/** The public sample alert (`tanium.md` §2.3), byte for byte in its fields. */
export const REFERENCE_ALERT: SimAlert = {
  id: 1,
  eid: 1003,
  state: "unresolved",
  type: "detect.match",
  guid: "00000000-0000-0000-114a-7429237cffc5",
  priority: "high",
  severity: "info",
  details: JSON.stringify({
    match: {
      hash: "5316433291530133286",
      type: "process",
      source: "recorder",
      version: 1,
      contexts: [],
      properties: {
        pid: 9080,
        ppid: 7528,
        name: "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
        args: "msedge.exe --type=renderer",
        user: "DEVICENAME\\bob",
        file: {
          md5: "2204459dcbf34aed8906daac26db6f56",
          sha1: "f2b0d5f1c8f4c3b2a1e0d9c8b7a6f5e4d3c2b1a0",
          sha256: "aa64428647b57bf51524d1756b2ed746e5a3f31b67cf7fe5b5d8a9daf07ca313",
          fullpath: "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
        },
        start_time: "2023-10-16T12:26:50.000Z",
      },
    },
    intel_id: 700,
    config_id: 2,
    config_rev_id: 1,
  }),
  intelDocId: 700,
  groupingId: 2,
  intelDocRevisionId: 1,
  scanConfigId: 2,
  scanConfigRevisionId: 1,
  computerName: "ComputerName",
  computerIpAddress: "1.1.1.1",
  matchType: "process",
  path: "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
  alertedAt: "2023-10-16T12:26:51.000Z",
  receivedAt: "2023-10-16T12:29:34.609Z",
  createdAt: "2023-10-16T12:29:34.903Z",
  updatedAt: "2023-10-16T12:38:03.968Z",
  suppressedAt: null,
  ackedAt: null,
  findingId: "-4758370623356219688",
  firstEIDResolutionAttempt: null,
  lastEIDResolutionAttempt: null,
};

/** The public sample intel document (`tanium.md` §2.5). */
export const REFERENCE_INTEL: SimIntel = {
  id: 700,
  type: "tanium-signal",
  typeVersion: "1.0",
  name: "Testing eicar",
  description: "Detects the EICAR test file",
  mitreAttack: {
    techniques: [{
      id: "T1134.002",
      name: "Access Token Manipulation Mitigation: Create Process with Token",
    }],
  },
  platforms: ["windows"],
  labelIds: [1],
  sourceId: 2,
  alertCount: 8,
  unresolvedAlertCount: 8,
  status: "HIGH_FIDELITY",
  createdAt: "2023-10-10T09:00:00.000Z",
  updatedAt: "2023-10-16T12:00:00.000Z",
};

/** Intel documents of the seed: every type and `mitreAttack` shape the converter meets. */
export const SEED_INTELS: readonly SimIntel[] = [
  REFERENCE_INTEL,
  {
    id: 701,
    type: "processInjection",
    typeVersion: "1.0",
    name: "Suspicious remote thread",
    description: "Process injection into lsass",
    platforms: ["windows"],
    createdAt: "2023-10-10T09:00:00.000Z",
    updatedAt: "2023-10-10T09:00:00.000Z",
  },
  {
    id: 702,
    type: "yara",
    typeVersion: "1.0",
    name: "Encoded PowerShell",
    mitreAttack: {
      techniques: [
        { id: "T1059.001", name: "Command and Scripting Interpreter: PowerShell" },
        { id: "T1027", name: "Obfuscated Files or Information" },
      ],
    },
    platforms: ["windows"],
    createdAt: "2023-10-11T09:00:00.000Z",
    updatedAt: "2023-10-11T09:00:00.000Z",
  },
  {
    id: 703,
    type: "openioc",
    typeVersion: "1.0",
    name: "Known bad loader hash",
    mitreAttack: {},
    platforms: ["windows", "linux"],
    createdAt: "2023-10-12T09:00:00.000Z",
    updatedAt: "2023-10-12T09:00:00.000Z",
  },
  {
    id: 704,
    type: "stix",
    typeVersion: "1.0",
    name: "Intel without OpenCTI counterpart",
    mitreAttack: { techniques: [] },
    platforms: ["linux"],
    createdAt: "2023-10-12T09:00:00.000Z",
    updatedAt: "2023-10-12T09:00:00.000Z",
  },
];

/** Where user and file sit in `details` (§2.4), or a null `match`. */
export type DetailsShape = "properties" | "process" | "match-null";

/** Inputs of {@linkcode detailsString}. */
export interface DetailsInput {
  /** Shape of `details.match`. */
  shape: DetailsShape;
  /** `DOMAIN\user`. */
  user?: string;
  /** MD5 of the file. */
  md5?: string;
  /** SHA-256 of the file. */
  sha256?: string;
  /** Full path of the file. */
  path?: string;
  /** The intel id repeated in `details`. */
  intelId: number;
}

/** A realistic `details` JSON string in one of the three shapes. */
export function detailsString(input: DetailsInput): string {
  const file: Record<string, unknown> = {};
  if (input.md5) file.md5 = input.md5;
  if (input.sha256) file.sha256 = input.sha256;
  if (input.path) file.fullpath = input.path;
  let match: unknown = null;
  if (input.shape === "properties") {
    match = {
      hash: "1",
      type: "process",
      source: "recorder",
      version: 1,
      contexts: [],
      properties: { pid: 4242, name: input.path ?? "", user: input.user, file },
    };
  } else if (input.shape === "process") {
    match = {
      hash: "2",
      type: "process",
      source: "recorder",
      version: 1,
      contexts: [],
      properties: {
        pid: 4343,
        name: input.path ?? "",
        recorder_unique_id: "9f1c",
        process: { user: input.user, file },
      },
    };
  }
  return JSON.stringify({
    match,
    finding: {
      domain: "threatresponse",
      intel_id: `${input.intelId}:1:00000000-0000-4000-8000-000000000000`,
      source_name: input.shape === "match-null" ? "windows_defender" : "recorder",
    },
    intel_id: input.intelId,
    config_id: 2,
    config_rev_id: 1,
  });
}

/** Inputs of {@linkcode makeAlert}; everything but `id`, `alertedAt` and `intelDocId` defaults. */
export interface AlertInput {
  /** Alert id. */
  id: number;
  /** ISO date-time in whole seconds. */
  alertedAt: string;
  /** Intel document id. */
  intelDocId: number;
  /** Alert state. @default "unresolved" */
  state?: string;
  /** Tanium priority. @default "high" */
  priority?: string;
  /** Match type. @default "process" */
  matchType?: string;
  /** Endpoint name. @default `host-<id>` */
  computerName?: string | null;
  /** Endpoint IP address. @default "10.0.<id / 250>.<id % 250 + 1>" */
  computerIpAddress?: string | null;
  /** The `details` JSON string. @default a `properties`-shaped details string */
  details?: string | null;
}

/** One alert in the API's shape with realistic defaults. */
export function makeAlert(input: AlertInput): SimAlert {
  const { id, alertedAt, intelDocId } = input;
  const received = new Date(Date.parse(alertedAt) + 90_000).toISOString();
  return {
    id,
    eid: 1000 + (id % 50),
    state: input.state ?? "unresolved",
    type: "detect.match",
    guid: guidOf(id),
    priority: input.priority ?? "high",
    severity: "info",
    details: input.details !== undefined ? input.details : detailsString({
      shape: "properties",
      user: `CORP\\user${id % 17}`,
      md5: hex(id * 7919, 32),
      path: `C:\\Users\\user${id % 17}\\AppData\\Local\\Temp\\tool${id % 5}.exe`,
      intelId: intelDocId,
    }),
    intelDocId,
    groupingId: 2,
    intelDocRevisionId: 1,
    scanConfigId: 2,
    scanConfigRevisionId: 1,
    computerName: input.computerName !== undefined ? input.computerName : `host-${id}`,
    computerIpAddress: input.computerIpAddress !== undefined
      ? input.computerIpAddress
      : `10.0.${Math.floor(id / 250) % 250}.${(id % 250) + 1}`,
    matchType: input.matchType ?? "process",
    path: `C:\\tools\\tool${id % 5}.exe`,
    alertedAt,
    receivedAt: received,
    createdAt: received,
    updatedAt: received,
    suppressedAt: input.state === "suppressed" ? received : null,
    ackedAt: null,
    findingId: String(-4758370623356219688n + BigInt(id)),
    firstEIDResolutionAttempt: null,
    lastEIDResolutionAttempt: null,
  };
}

/** A stable GUID per alert id. */
export function guidOf(id: number): string {
  return `00000000-0000-4000-8000-${id.toString(16).padStart(12, "0")}`;
}

function hex(seed: number, length: number): string {
  let out = "";
  let x = seed >>> 0 || 1;
  while (out.length < length) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += x.toString(16).padStart(8, "0");
  }
  return out.slice(0, length);
}

/** Options of {@linkcode generateAlerts}. */
export interface GenerateOptions {
  /** Alerts sharing one second: a count (placed in the middle of the run), or `true` for all. @default 0 */
  sameSecond?: number | boolean;
  /** Seed of the random choices. @default 1 */
  seed?: number;
  /** First `alertedAt` (ISO). @default "2024-03-01T00:00:00.000Z" */
  start?: string;
  /** First alert id. @default 10000 */
  firstId?: number;
  /** Intel ids to pick from. @default [700, 701, 702, 703, 704] */
  intelIds?: readonly number[];
}

/**
 * `n` alerts with increasing ids, `alertedAt` in whole seconds one to three seconds apart, except
 * `sameSecond` of them sharing one instant; about one in ten is suppressed; every alert has its
 * own host, so every one gives its own incident.
 */
export function generateAlerts(n: number, options: GenerateOptions = {}): SimAlert[] {
  const random = seededRandom(options.seed ?? 1);
  const intelIds = options.intelIds ?? [700, 701, 702, 703, 704];
  const firstId = options.firstId ?? 10_000;
  const same = options.sameSecond === true ? n : Math.min(n, Number(options.sameSecond || 0));
  const burstStart = Math.floor((n - same) / 2);
  let time = Date.parse(options.start ?? "2024-03-01T00:00:00.000Z");
  const states = ["unresolved", "inprogress", "resolved"];
  const priorities = ["low", "medium", "high", "critical"];
  const shapes: DetailsShape[] = ["properties", "process", "match-null"];
  const out: SimAlert[] = [];
  for (let i = 0; i < n; i++) {
    const inBurst = i > burstStart && i < burstStart + same;
    if (!inBurst && i > 0) time += 1000 * (1 + Math.floor(random() * 3));
    const id = firstId + i;
    const intelDocId = intelIds[Math.floor(random() * intelIds.length)] ?? 700;
    const shape = shapes[Math.floor(random() * shapes.length)] ?? "properties";
    const suppressed = random() < 0.1;
    out.push(makeAlert({
      id,
      alertedAt: new Date(time).toISOString(),
      intelDocId,
      state: suppressed ? "suppressed" : states[Math.floor(random() * states.length)]!,
      priority: priorities[Math.floor(random() * priorities.length)]!,
      matchType: shape === "match-null" ? "windows_defender" : "process",
      details: detailsString({
        shape,
        user: `CORP\\user${id % 23}`,
        md5: hex(id, 32),
        sha256: hex(id * 31, 64),
        intelId: intelDocId,
      }),
    }));
  }
  return out;
}

/** The seed's alerts, intel documents and alerts to add later (late arrivals). */
export interface TaniumSeed {
  /** Alerts served from the start. */
  alerts: SimAlert[];
  /** Intel documents. */
  intels: SimIntel[];
  /** Alerts whose `alertedAt` is older than alerts already served: add them after a first import. */
  lateAlerts: SimAlert[];
}

/** Options of {@linkcode taniumSeed}. */
export interface TaniumSeedOptions {
  /** Size of the burst of alerts sharing one second. @default 520 */
  burst?: number;
}

/**
 * The deterministic data set of §6: the sample alert; alerts in every state; user/file under
 * `properties` and under `properties.process`; `details: null`; `match: null`; IPv6 and empty
 * addresses; intel without OpenCTI counterpart; a `processInjection` intel; a burst of more than
 * 500 alerts in one second; and late arrivals.
 */
export function taniumSeed(options: TaniumSeedOptions = {}): TaniumSeed {
  const day = "2023-10-17T";
  const alerts: SimAlert[] = [
    structuredClone(REFERENCE_ALERT),
    makeAlert({ id: 2, alertedAt: `${day}08:00:00.000Z`, intelDocId: 700, state: "suppressed" }),
    makeAlert({
      id: 3,
      alertedAt: `${day}08:00:00.000Z`,
      intelDocId: 701,
      state: "inprogress",
      priority: "critical",
      details: detailsString({
        shape: "process",
        user: "CORP\\alice",
        md5: "44d88612fea8a8f36de82e1278abb02f",
        sha256: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
        path: "C:\\Windows\\System32\\rundll32.exe",
        intelId: 701,
      }),
    }),
    makeAlert({
      id: 4,
      alertedAt: `${day}08:00:01.000Z`,
      intelDocId: 702,
      state: "resolved",
      priority: "medium",
      computerIpAddress: "2001:db8::25",
    }),
    makeAlert({
      id: 5,
      alertedAt: `${day}08:00:02.000Z`,
      intelDocId: 703,
      priority: "low",
      computerIpAddress: "",
      details: null,
    }),
    makeAlert({
      id: 6,
      alertedAt: `${day}08:00:03.000Z`,
      intelDocId: 702,
      matchType: "windows_defender",
      details: detailsString({ shape: "match-null", intelId: 702 }),
    }),
    makeAlert({ id: 7, alertedAt: `${day}08:00:04.000Z`, intelDocId: 704, priority: "medium" }),
    makeAlert({
      id: 8,
      alertedAt: `${day}08:00:05.000Z`,
      intelDocId: 701,
      state: "unresolved",
      priority: "urgent-ish",
      computerName: null,
      computerIpAddress: null,
    }),
  ];
  const burst = options.burst ?? 520;
  for (let i = 0; i < burst; i++) {
    alerts.push(makeAlert({
      id: 100 + i,
      alertedAt: `${day}09:30:00.000Z`,
      intelDocId: [700, 701, 702][i % 3]!,
      state: i % 25 === 0 ? "suppressed" : "unresolved",
      priority: ["low", "medium", "high"][i % 3]!,
    }));
  }
  const lateAlerts = [
    makeAlert({ id: 5000, alertedAt: `${day}08:00:03.000Z`, intelDocId: 700 }),
    makeAlert({ id: 5001, alertedAt: `${day}09:30:00.000Z`, intelDocId: 702 }),
  ];
  return { alerts, intels: SEED_INTELS.map((intel) => structuredClone(intel)), lateAlerts };
}

// ---------------------------------------------------------------------------------------------
// The OpenCTI side

/** `source_name` the Tanium intel stream connector writes on OpenCTI entities (§2.7). */
export const INTEL_SOURCE_NAME = "Tanium Threat Response Intel";

/** Options of {@linkcode seedOpenCtiForTanium}. */
export interface OpenCtiTaniumSeedOptions {
  /** Tanium console URL used in the references' links. @default "https://tanium.example.com" */
  consoleUrl?: string;
  /** `created`/`modified` of the seeded objects. @default "2023-10-01T00:00:00.000Z" */
  time?: string;
}

/** Ids of what {@linkcode seedOpenCtiForTanium} created, by intel id. */
export interface OpenCtiTaniumSeed {
  /** Indicator standard ids by intel id (700, 701 with the legacy `Tanium` source, 702). */
  indicators: Record<number, string>;
  /** The observable linked to intel 703 (not an Indicator: no sighting, `related-to`). */
  observable: string;
  /** An indicator carrying `external_id: "700"` from another source (must never match, B8). */
  decoy: string;
}

function intelReference(consoleUrl: string, id: number, sourceName = INTEL_SOURCE_NAME) {
  return {
    source_name: sourceName,
    external_id: String(id),
    url: `${consoleUrl.replace(/\/+$/, "")}/#/threatresponse/intel/${id}`,
    description: "Intel document within the Tanium platform.",
  };
}

/**
 * Seeds the OpenCTI simulator's store with the entities the Tanium intel connector would have
 * linked: indicators for intels 700-702 (701 with the legacy source name `Tanium`), a file
 * observable for 703, nothing for 704, and a decoy indicator with `external_id` 700 from
 * another source.
 */
export async function seedOpenCtiForTanium(
  store: OpenCtiStore,
  options: OpenCtiTaniumSeedOptions = {},
): Promise<OpenCtiTaniumSeed> {
  const console = options.consoleUrl ?? "https://tanium.example.com";
  const time = options.time ?? "2023-10-01T00:00:00.000Z";
  const indicator = async (
    pattern: string,
    name: string,
    references: Record<string, unknown>[],
  ): Promise<StixObject> => ({
    type: "indicator",
    spec_version: "2.1",
    id: await indicatorIdOf(pattern),
    created: time,
    modified: time,
    name,
    pattern,
    pattern_type: "stix",
    pattern_version: "2.1",
    valid_from: time,
    object_marking_refs: [TLP_MARKING_IDS.amber],
    external_references: references,
  });
  const objects: StixObject[] = [
    await indicator(
      "[file:hashes.'MD5' = '44d88612fea8a8f36de82e1278abb02f']",
      "EICAR test file",
      [intelReference(console, 700)],
    ),
    await indicator(
      "[process:name = 'rundll32.exe']",
      "Remote thread into lsass",
      [intelReference(console, 701, "Tanium")],
    ),
    await indicator(
      "[process:command_line MATCHES '-enc ']",
      "Encoded PowerShell",
      [intelReference(console, 702)],
    ),
    await indicator("[domain-name:value = 'decoy.example']", "Decoy with the same number", [
      { source_name: "Other Vendor", external_id: "700", url: "https://other.example/700" },
    ]),
  ];
  const md5 = "0123456789abcdef0123456789abcdef";
  const observable: StixObject = {
    type: "file",
    spec_version: "2.1",
    id: await fileIdOf({ MD5: md5 }),
    hashes: { MD5: md5 },
    external_references: [intelReference(console, 703)],
  };
  objects.push(observable);
  for (const object of objects) store.upsert(object);
  return {
    indicators: { 700: objects[0]!.id, 701: objects[1]!.id, 702: objects[2]!.id },
    observable: observable.id,
    decoy: objects[3]!.id,
  };
}
