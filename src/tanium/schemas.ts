/**
 * Valibot schemas of the Tanium Threat Response API (reference `tanium.md` §2) and the readers
 * that turn raw JSON into the precise types the converter works on.
 *
 * Every alert is read on its own: a null or missing field only loses what depends on it, and an
 * alert without a usable `id` or `alertedAt` is reported as malformed instead of failing its page.
 *
 * @module
 */
import * as v from "valibot";
import { InvalidTimestampError, platformTimestamp } from "../stix/ids.ts";
import { errorMessage } from "../runtime/errors.ts";

/** A string, or undefined for null, a missing value or any other type. */
const Text = v.fallback(v.nullish(v.string()), undefined);

/** A finite number, or undefined for anything else. */
const Num = v.fallback(v.nullish(v.pipe(v.number(), v.finite())), undefined);

/** The `{data, meta}` envelope of `GET …/alerts`; items are read one by one afterwards. */
export const AlertsEnvelopeSchema = v.object({
  data: v.array(v.unknown()),
  meta: v.fallback(
    v.nullish(v.object({ totalCount: Num, filteredCount: Num })),
    undefined,
  ),
});

/** The fields of one alert this connector reads; everything but `id` and `alertedAt` may be null. */
const AlertSchema = v.object({
  id: v.pipe(v.number(), v.integer()),
  alertedAt: v.string(),
  guid: Text,
  state: Text,
  type: Text,
  matchType: Text,
  priority: Text,
  severity: Text,
  intelDocId: v.fallback(
    v.nullish(v.union([v.pipe(v.number(), v.integer()), v.pipe(v.string(), v.regex(/^\d+$/))])),
    undefined,
  ),
  computerName: Text,
  computerIpAddress: Text,
  path: Text,
  details: v.fallback(v.nullish(v.string()), undefined),
});

/** The file part of `details.match.properties` (hashes as Tanium names them). */
const FileSchema = v.fallback(
  v.nullish(v.object({ md5: Text, sha1: Text, sha256: Text, fullpath: Text })),
  undefined,
);

/** The parts of the parsed `details` string this connector reads (§2.4). */
const DetailsSchema = v.object({
  match: v.fallback(
    v.nullish(v.object({
      type: Text,
      properties: v.fallback(
        v.nullish(v.object({
          name: Text,
          user: Text,
          file: FileSchema,
          process: v.fallback(
            v.nullish(v.object({ user: Text, file: FileSchema })),
            undefined,
          ),
        })),
        undefined,
      ),
    })),
    undefined,
  ),
});

/** `GET …/intels/{id}` → `{data: {…}}` (§2.5). */
export const IntelEnvelopeSchema = v.object({
  data: v.object({
    id: v.pipe(v.number(), v.integer()),
    name: Text,
    type: Text,
    description: Text,
    mitreAttack: v.fallback(
      v.nullish(v.object({
        techniques: v.fallback(v.nullish(v.array(v.unknown())), undefined),
      })),
      undefined,
    ),
  }),
});

const TechniqueSchema = v.object({
  id: v.union([v.pipe(v.string(), v.trim(), v.nonEmpty()), v.pipe(v.number(), v.integer())]),
  name: Text,
});

/** File hashes found in an alert's details (Tanium's key names). */
export interface AlertFile {
  /** MD5, lower-case hex as Tanium sends it. */
  md5?: string;
  /** SHA-1. */
  sha1?: string;
  /** SHA-256. */
  sha256?: string;
}

/** What the converter reads from the `details` string. */
export interface AlertDetails {
  /** The user, e.g. `DEVICENAME\bob` (`process.user` first, then `user`). */
  user: string | undefined;
  /** File hashes (`process.file` first, then `file`); undefined when no hash is present. */
  file: AlertFile | undefined;
}

/** A Tanium alert, read and typed; `undefined` stands for a null or missing field. */
export interface TaniumAlert {
  /** Unique alert id (the cursor's tie-breaker). */
  id: number;
  /** Detection time in the platform form (`2023-10-16T12:26:51.000Z`). */
  alertedAt: string;
  /** `alertedAt` in epoch ms. */
  alertedAtMs: number;
  /** Alert GUID (incident external id and console link). */
  guid: string | undefined;
  /** `unresolved`, `inprogress`, `resolved`, `suppressed`, … */
  state: string | undefined;
  /** e.g. `detect.match`. */
  type: string | undefined;
  /** e.g. `process`, `windows_defender`. */
  matchType: string | undefined;
  /** e.g. `high`. */
  priority: string | undefined;
  /** The intel document that matched. */
  intelDocId: number | undefined;
  /** Endpoint name. */
  computerName: string | undefined;
  /** Endpoint address (IPv4, IPv6 or empty). */
  computerIpAddress: string | undefined;
  /** The parsed `details`; undefined when null, empty or unreadable. */
  details: AlertDetails | undefined;
  /** Why `details` could not be read, when it was present but unreadable. */
  detailsProblem: string | undefined;
}

/** One item of an alerts page that cannot be used (no integer `id` or no readable `alertedAt`). */
export interface MalformedAlert {
  /** The `id` as sent, when there is one (for the log). */
  rawId: unknown;
  /** What is wrong. */
  problem: string;
}

/** A MITRE ATT&CK technique of an intel document. */
export interface Technique {
  /** Technique id, e.g. `T1134.002` (always a string). */
  id: string;
  /** Technique name (the id when Tanium gives none). */
  name: string;
}

/** A Tanium intel document, read and typed. */
export interface IntelDoc {
  /** Intel id. */
  id: number;
  /** Name (the incident name's first part). */
  name: string | undefined;
  /** `tanium-signal`, `openioc`, `stix`, `yara`, `processInjection`, … */
  type: string | undefined;
  /** MITRE techniques (invalid entries dropped). */
  techniques: Technique[];
}

/** Reads one alert item; returns the typed alert or why it is malformed. */
export function readAlert(raw: unknown): { alert: TaniumAlert } | { malformed: MalformedAlert } {
  const rawId = typeof raw === "object" && raw !== null && "id" in raw ? raw.id : undefined;
  const parsed = v.safeParse(AlertSchema, raw);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const where = issue ? v.getDotPath(issue) ?? "alert" : "alert";
    return { malformed: { rawId, problem: `${where}: ${issue?.message ?? "unreadable"}` } };
  }
  const a = parsed.output;
  let alertedAt: string;
  try {
    alertedAt = platformTimestamp(a.alertedAt);
  } catch (error) {
    if (!(error instanceof InvalidTimestampError)) throw error;
    return {
      malformed: { rawId, problem: `alertedAt: "${a.alertedAt}" is not an ISO-8601 date-time` },
    };
  }
  const { details, problem } = readDetails(a.details);
  return {
    alert: {
      id: a.id,
      alertedAt,
      alertedAtMs: Date.parse(alertedAt),
      guid: a.guid ?? undefined,
      state: a.state ?? undefined,
      type: a.type ?? undefined,
      matchType: a.matchType ?? undefined,
      priority: a.priority ?? undefined,
      intelDocId: a.intelDocId === undefined || a.intelDocId === null
        ? undefined
        : Number(a.intelDocId),
      computerName: a.computerName ?? undefined,
      computerIpAddress: a.computerIpAddress ?? undefined,
      details,
      detailsProblem: problem,
    },
  };
}

/** Parses the `details` JSON string safely: null, empty and unreadable give no details. */
export function readDetails(
  text: string | null | undefined,
): { details: AlertDetails | undefined; problem: string | undefined } {
  if (text === null || text === undefined || text.trim() === "") {
    return { details: undefined, problem: undefined };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return {
      details: undefined,
      problem: `details is not valid JSON (${errorMessage(error)})`,
    };
  }
  const parsed = v.safeParse(DetailsSchema, json);
  if (!parsed.success) {
    return { details: undefined, problem: "details is not a JSON object" };
  }
  const properties = parsed.output.match?.properties;
  const user = nonEmpty(properties?.process?.user) ?? nonEmpty(properties?.user);
  const file = hashesOf(properties?.process?.file) ?? hashesOf(properties?.file);
  return { details: { user, file }, problem: undefined };
}

function nonEmpty(value: string | null | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function hashesOf(
  file:
    | {
      md5?: string | null | undefined;
      sha1?: string | null | undefined;
      sha256?: string | null | undefined;
    }
    | null
    | undefined,
): AlertFile | undefined {
  if (!file) return undefined;
  const out: AlertFile = {};
  const md5 = nonEmpty(file.md5);
  const sha1 = nonEmpty(file.sha1);
  const sha256 = nonEmpty(file.sha256);
  if (md5) out.md5 = md5;
  if (sha1) out.sha1 = sha1;
  if (sha256) out.sha256 = sha256;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Reads an intel document envelope; throws a valibot error when `data.id` is missing. */
export function readIntel(raw: unknown): IntelDoc {
  const { data } = v.parse(IntelEnvelopeSchema, raw);
  const techniques: Technique[] = [];
  for (const item of data.mitreAttack?.techniques ?? []) {
    const parsed = v.safeParse(TechniqueSchema, item);
    if (!parsed.success) continue;
    const id = typeof parsed.output.id === "number"
      ? `T${String(parsed.output.id).padStart(4, "0")}`
      : parsed.output.id;
    techniques.push({ id, name: nonEmpty(parsed.output.name) ?? id });
  }
  return {
    id: data.id,
    name: nonEmpty(data.name),
    type: nonEmpty(data.type),
    techniques,
  };
}
