/**
 * TLP marking definitions with the fixed ids shared by STIX 2.1, pycti and the OpenCTI platform.
 *
 * @module
 */

import type { StixObject, Tlp } from "./types.ts";

/** TLP:CLEAR, which is also TLP:WHITE (same id). */
export const TLP_CLEAR_ID = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
/** TLP:WHITE (the TLP 1.0 name of TLP:CLEAR; same id). */
export const TLP_WHITE_ID = TLP_CLEAR_ID;
/** TLP:GREEN. */
export const TLP_GREEN_ID = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
/** TLP:AMBER. */
export const TLP_AMBER_ID = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
/** TLP:AMBER+STRICT. */
export const TLP_AMBER_STRICT_ID = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37";
/** TLP:RED. */
export const TLP_RED_ID = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

/** Fixed marking id of each TLP level. */
export const TLP_IDS: Readonly<Record<Tlp, string>> = {
  clear: TLP_CLEAR_ID,
  white: TLP_WHITE_ID,
  green: TLP_GREEN_ID,
  amber: TLP_AMBER_ID,
  "amber+strict": TLP_AMBER_STRICT_ID,
  red: TLP_RED_ID,
};

/** Restriction rank of each level (higher = more restrictive); CLEAR and WHITE are equal. */
export const TLP_RANK: Readonly<Record<Tlp, number>> = {
  clear: 0,
  white: 0,
  green: 1,
  amber: 2,
  "amber+strict": 3,
  red: 4,
};

/** A TLP marking definition as a STIX 2.1 object (`definition_type: "tlp"`). */
export interface TlpMarkingDefinition extends StixObject {
  /** Always `marking-definition`. */
  type: "marking-definition";
  /** Always `2.1`. */
  spec_version: "2.1";
  /** The fixed TLP id. */
  id: string;
  /** Creation date of the STIX definition. */
  created: string;
  /** `TLP:<LEVEL>`. */
  name: string;
  /** Always `tlp`. */
  definition_type: "tlp";
  /** The level in lower case. */
  definition: { tlp: string };
}

// STIX 2.1 (§7.2.1.4) publishes the WHITE/GREEN/AMBER/RED objects with this creation date; the
// TLP 2.0 levels (CLEAR, AMBER+STRICT) are OpenCTI additions, given the same date here.
const TLP_CREATED = "2017-01-20T00:00:00.000Z";

function tlpObject(tlp: Tlp): TlpMarkingDefinition {
  return {
    type: "marking-definition",
    spec_version: "2.1",
    id: TLP_IDS[tlp],
    created: TLP_CREATED,
    name: `TLP:${tlp.toUpperCase()}`,
    definition_type: "tlp",
    definition: { tlp },
  };
}

/** Full STIX marking-definition objects for every TLP level. */
export const TLP_MARKINGS: Readonly<Record<Tlp, TlpMarkingDefinition>> = {
  clear: tlpObject("clear"),
  white: tlpObject("white"),
  green: tlpObject("green"),
  amber: tlpObject("amber"),
  "amber+strict": tlpObject("amber+strict"),
  red: tlpObject("red"),
};

/** Returns the STIX marking-definition object of a TLP level. */
export function tlpMarking(tlp: Tlp): TlpMarkingDefinition {
  return TLP_MARKINGS[tlp];
}

const BY_ID: ReadonlyMap<string, Tlp> = new Map<string, Tlp>([
  [TLP_CLEAR_ID, "clear"],
  [TLP_GREEN_ID, "green"],
  [TLP_AMBER_ID, "amber"],
  [TLP_AMBER_STRICT_ID, "amber+strict"],
  [TLP_RED_ID, "red"],
]);

const BY_NAME: ReadonlyMap<string, Tlp> = new Map<string, Tlp>([
  ["CLEAR", "clear"],
  ["WHITE", "white"],
  ["GREEN", "green"],
  ["AMBER", "amber"],
  ["AMBER+STRICT", "amber+strict"],
  ["RED", "red"],
]);

/** Reads a TLP level from a name such as `TLP:AMBER+STRICT`, `tlp:green` or `red`. */
export function parseTlp(name: string): Tlp | undefined {
  const n = name.trim().toUpperCase().replace(/^TLP:\s*/, "");
  return BY_NAME.get(n);
}

/** Returns the TLP level of a marking id or marking-definition object, if it is a TLP marking. */
export function tlpOfMarking(marking: string | StixObject): Tlp | undefined {
  if (typeof marking === "string") return BY_ID.get(marking);
  const byId = BY_ID.get(marking.id);
  if (byId) {
    // The shared CLEAR/WHITE id: keep the name the object states.
    return byId === "clear" && typeof marking.name === "string" &&
        parseTlp(marking.name) === "white"
      ? "white"
      : byId;
  }
  if (marking.type !== "marking-definition") return undefined;
  const type = typeof marking.definition_type === "string"
    ? marking.definition_type.toUpperCase()
    : "";
  if (type !== "TLP") return undefined;
  const def = marking.definition;
  if (typeof def === "string") return parseTlp(def);
  if (def !== null && typeof def === "object" && "tlp" in def && typeof def.tlp === "string") {
    return parseTlp(def.tlp);
  }
  return typeof marking.name === "string" ? parseTlp(marking.name) : undefined;
}

/** Returns the most restrictive TLP level among marking ids or objects, or undefined if none is TLP. */
export function tlpOf(markings: Iterable<string | StixObject> | undefined): Tlp | undefined {
  let best: Tlp | undefined;
  for (const m of markings ?? []) {
    const tlp = tlpOfMarking(m);
    if (tlp !== undefined && (best === undefined || TLP_RANK[tlp] > TLP_RANK[best])) best = tlp;
  }
  return best;
}

/**
 * The most restrictive TLP level among the marking ids of an `object_marking_refs` list; entries
 * that are not strings are ignored. Same answer as {@linkcode tlpOf} of its strings, without the
 * filtered copy and iterator (it runs once per stream event).
 */
export function tlpOfRefs(refs: readonly unknown[]): Tlp | undefined {
  let best: Tlp | undefined;
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i];
    const tlp = typeof ref === "string" ? BY_ID.get(ref) : undefined;
    if (tlp !== undefined && (best === undefined || TLP_RANK[tlp] > TLP_RANK[best])) best = tlp;
  }
  return best;
}
