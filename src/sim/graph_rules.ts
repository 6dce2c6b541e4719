/**
 * What the Graph `tiIndicators` simulator accepts (reference microsoft.md §2.3, §8.2): the
 * properties and their Edm types, the OData deserialisation of a body (400 for the request), the
 * business rules of a create and of an update per `targetProduct` (reported per item), and the
 * strict `$filter` grammar (`field eq 'value'` joined by `and` / `or`).
 *
 * @module
 */
import {
  TI_DESCRIPTION_MAX as DESCRIPTION_MAX,
  TI_ENUMS as ENUMS,
  TI_KILL_CHAIN as KILL_CHAIN,
  TI_TARGET_PRODUCTS as TARGET_PRODUCTS,
} from "./ms_tables.ts";
import { readStringLiteral } from "./odata_literal.ts";
import { isObject } from "./ms_common.ts";

/** A JSON object as the simulator reads a body. */
export type Json = Record<string, unknown>;

/** A problem with one item: business validation, reported per item (206). */
export class ItemProblem extends Error {
  /** The error's name. */
  override name = "ItemProblem";
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
  }
}

/** A problem with the whole body: deserialisation, answered with 400. */
export class BodyProblem extends Error {
  /** The error's name. */
  override name = "BodyProblem";
}

// Property names and Edm types below: Graph beta "tiIndicator resource type", tables "Properties"
// and "Indicator observables - email / file / network" (reference microsoft.md §2.3).
const STRING_PROPS = new Set([
  "additionalInformation",
  "azureTenantId",
  "description",
  "externalId",
  "knownFalsePositives",
  "targetProduct",
  "action",
  "diamondModel",
  "threatType",
  "tlpLevel",
  "emailEncoding",
  "emailLanguage",
  "emailRecipient",
  "emailSenderAddress",
  "emailSenderName",
  "emailSourceDomain",
  "emailSourceIpAddress",
  "emailSubject",
  "emailXMailer",
  "fileHashType",
  "fileHashValue",
  "fileMutexName",
  "fileName",
  "filePacker",
  "filePath",
  "fileType",
  "domainName",
  "networkCidrBlock",
  "networkDestinationCidrBlock",
  "networkDestinationIPv4",
  "networkDestinationIPv6",
  "networkIPv4",
  "networkIPv6",
  "networkSourceCidrBlock",
  "networkSourceIPv4",
  "networkSourceIPv6",
  "url",
  "userAgent",
]);
const DATE_PROPS = new Set([
  "expirationDateTime",
  "lastReportedDateTime",
  "fileCompileDateTime",
  "fileCreatedDateTime",
]);
const INT_PROPS = new Set([
  "confidence",
  "severity",
  "fileSize",
  "networkDestinationAsn",
  "networkDestinationPort",
  "networkPort",
  "networkProtocol",
  "networkSourceAsn",
  "networkSourcePort",
]);
const BOOL_PROPS = new Set(["isActive", "passiveOnly"]);
const ARRAY_PROPS = new Set(["activityGroupNames", "killChain", "malwareFamilyNames", "tags"]);
const READ_ONLY = new Set(["id", "ingestedDateTime", "@odata.type"]);
const OBSERVABLE_PROPS = [...STRING_PROPS, ...INT_PROPS, ...DATE_PROPS].filter((p) =>
  /^(email|file|network|domainName$|url$|userAgent$)/.test(p) && p !== "fileHashType"
);
// Required and editable fields per targetProduct: same page, "Methods supported by each target
// product" (reference microsoft.md §2.4).
const DEFENDER_OBSERVABLES = [
  "domainName",
  "url",
  "networkDestinationIPv4",
  "networkDestinationIPv6",
  "fileHashValue",
];
const SENTINEL_EDITABLE = new Set([
  "action",
  "activityGroupNames",
  "additionalInformation",
  "confidence",
  "description",
  "diamondModel",
  "expirationDateTime",
  "externalId",
  "isActive",
  "killChain",
  "knownFalsePositives",
  "lastReportedDateTime",
  "malwareFamilyNames",
  "passiveOnly",
  "severity",
  "tags",
  "tlpLevel",
  "targetProduct",
  "id",
]);
const DEFENDER_EDITABLE = new Set([
  "expirationDateTime",
  "severity",
  "description",
  "targetProduct",
  "id",
]);
const FILTERABLE = new Set([...STRING_PROPS, "id"]);
/** The Defender product, whose records follow other rules. */
export const DEFENDER = "Microsoft Defender ATP";

export function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Checks property names and JSON types, as OData deserialisation does (400 for the request). */
export function deserialise(item: unknown, allowId = false): Json {
  if (!isObject(item)) throw new BodyProblem("Each indicator must be a JSON object");
  const fields = { ...item };
  for (const [name, value] of Object.entries(fields)) {
    if (name === "id" && allowId) {
      if (typeof value !== "string") throw new BodyProblem("'id' must be a string");
      continue;
    }
    if (READ_ONLY.has(name)) {
      if (name === "@odata.type") delete fields[name];
      else throw new BodyProblem(`The property '${name}' is read-only`);
      continue;
    }
    if (value === null) continue;
    if (STRING_PROPS.has(name)) {
      if (typeof value !== "string") {
        throw new BodyProblem(
          `Cannot convert the literal '${String(value)}' of '${name}' to Edm.String`,
        );
      }
    } else if (DATE_PROPS.has(name)) {
      if (typeof value !== "string" || Number.isNaN(Date.parse(value))) {
        throw new BodyProblem(
          `Cannot convert the literal '${String(value)}' of '${name}' to Edm.DateTimeOffset`,
        );
      }
    } else if (INT_PROPS.has(name)) {
      if (typeof value !== "number" || !Number.isInteger(value)) {
        throw new BodyProblem(
          `Cannot convert the literal '${String(value)}' of '${name}' to Edm.Int32`,
        );
      }
    } else if (BOOL_PROPS.has(name)) {
      if (typeof value !== "boolean") {
        throw new BodyProblem(
          `Cannot convert the literal '${JSON.stringify(value)}' of '${name}' to Edm.Boolean`,
        );
      }
    } else if (ARRAY_PROPS.has(name)) {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
        throw new BodyProblem(`'${name}' must be a collection of strings`);
      }
    } else {
      throw new BodyProblem(
        `The property '${name}' does not exist on type 'microsoft.graph.tiIndicator'`,
      );
    }
    const allowed = ENUMS[name];
    if (allowed && !allowed.includes(value as string)) {
      throw new BodyProblem(`The value '${String(value)}' is not valid for the enum '${name}'`);
    }
  }
  if (Array.isArray(fields.killChain)) {
    for (const phase of fields.killChain) {
      if (!KILL_CHAIN.includes(phase as string)) {
        throw new BodyProblem(`The value '${String(phase)}' is not valid for 'killChain'`);
      }
    }
  }
  return fields;
}

function checkRanges(fields: Json): void {
  if (typeof fields.description === "string" && fields.description.length > DESCRIPTION_MAX) {
    throw new ItemProblem(
      "InvalidInput",
      `description is ${fields.description.length} characters long; the limit is ${DESCRIPTION_MAX}`,
    );
  }
  if (typeof fields.severity === "number" && (fields.severity < 0 || fields.severity > 5)) {
    throw new ItemProblem("InvalidInput", "severity must be between 0 and 5");
  }
  if (typeof fields.confidence === "number" && (fields.confidence < 0 || fields.confidence > 100)) {
    throw new ItemProblem("InvalidInput", "confidence must be between 0 and 100");
  }
}

function checkTargetProduct(value: unknown): void {
  if (!TARGET_PRODUCTS.includes(value as string)) {
    throw new ItemProblem(
      "InvalidInput",
      `targetProduct must be 'Azure Sentinel' or 'Microsoft Defender ATP', got '${String(value)}'`,
    );
  }
}

/** Business rules of a create (reported per item). */
export function validateCreate(fields: Json): void {
  checkTargetProduct(fields.targetProduct);
  checkRanges(fields);
  const has = (name: string) => typeof fields[name] === "string" && fields[name] !== "";
  if (fields.targetProduct === DEFENDER) {
    if (!has("action")) throw new ItemProblem("InvalidInput", "Missing required field: action");
    if (
      (has("networkDestinationIPv4") && !has("networkIPv4")) ||
      (has("networkDestinationIPv6") && !has("networkIPv6"))
    ) {
      throw new ItemProblem("InvalidInput", "Missing indicators value");
    }
    if (has("fileHashValue") && !has("fileHashType")) {
      throw new ItemProblem("InvalidInput", "fileHashValue needs fileHashType");
    }
    if (!DEFENDER_OBSERVABLES.some(has)) {
      throw new ItemProblem(
        "InvalidInput",
        "Missing indicators value: Microsoft Defender ATP takes domainName, url, " +
          "networkDestinationIPv4, networkDestinationIPv6 or fileHashValue",
      );
    }
    return;
  }
  for (
    const name of [
      "action",
      "description",
      "expirationDateTime",
      "threatType",
      "tlpLevel",
    ]
  ) {
    if (!has(name)) throw new ItemProblem("InvalidInput", `Missing required field: ${name}`);
  }
  if (!OBSERVABLE_PROPS.some((p) => fields[p] !== undefined && fields[p] !== null)) {
    throw new ItemProblem(
      "InvalidInput",
      "An indicator needs at least one email, file or network observable",
    );
  }
}

/** Rules of an update (PATCH or bulk item). */
export function validateUpdate(fields: Json, record: { fields: Json }): void {
  if (typeof fields.expirationDateTime !== "string") {
    throw new ItemProblem("InvalidInput", "Missing required field: expirationDateTime");
  }
  checkTargetProduct(fields.targetProduct);
  if (fields.targetProduct !== record.fields.targetProduct) {
    throw new ItemProblem("InvalidInput", "targetProduct cannot be changed");
  }
  checkRanges(fields);
  const editable = record.fields.targetProduct === DEFENDER ? DEFENDER_EDITABLE : SENTINEL_EDITABLE;
  for (const name of Object.keys(fields)) {
    if (!editable.has(name)) {
      throw new ItemProblem("InvalidInput", `The property '${name}' cannot be updated`);
    }
  }
}

/** One `field eq 'value'` comparison. */
export interface Clause {
  field: string;
  value: string;
}

/**
 * Parses `a eq 'x' and b eq 'y' or c eq 'z'` into OR-groups of AND-clauses, strictly: an
 * unterminated literal or anything else is rejected like the real OData parser.
 */
export function parseFilter(text: string): Clause[][] {
  const groups: Clause[][] = [[]];
  let i = 0;
  const skipSpaces = () => {
    while (text[i] === " ") i++;
  };
  for (;;) {
    skipSpaces();
    const field = /^[A-Za-z][A-Za-z0-9]*/.exec(text.slice(i))?.[0];
    if (!field) throw new Error(`Invalid filter clause: expected a property at position ${i}`);
    if (!FILTERABLE.has(field)) {
      throw new Error(`Invalid filter clause: could not find a property named '${field}'`);
    }
    i += field.length;
    skipSpaces();
    if (text.slice(i, i + 2) !== "eq") {
      throw new Error(`Invalid filter clause: only 'eq' is supported (position ${i})`);
    }
    i += 2;
    skipSpaces();
    if (text[i] !== "'") {
      throw new Error(`Invalid filter clause: expected a string literal at position ${i}`);
    }
    const literal = readStringLiteral(text, i);
    if (!literal) {
      throw new Error(`Invalid filter clause: unterminated string literal at position ${i}`);
    }
    (groups[groups.length - 1] as Clause[]).push({ field, value: literal.value });
    i = literal.end;
    if (i < text.length && text[i] !== " ") {
      throw new Error(`Invalid filter clause: syntax error at position ${i}`);
    }
    skipSpaces();
    if (i >= text.length) return groups;
    const word = /^(and|or)\b/.exec(text.slice(i))?.[0];
    if (!word) throw new Error(`Invalid filter clause: syntax error at position ${i}`);
    if (word === "or") groups.push([]);
    i += word.length;
  }
}

/** True when the record satisfies one OR-group of `filter` (Defender records hide `externalId`). */
export function matches(
  record: { fields: Json },
  filter: Clause[][],
  dropsExternalId: boolean,
): boolean {
  return filter.some((group) =>
    group.every((clause) => {
      if (
        clause.field === "externalId" && dropsExternalId &&
        record.fields.targetProduct === DEFENDER
      ) {
        return false;
      }
      return record.fields[clause.field] === clause.value;
    })
  );
}
