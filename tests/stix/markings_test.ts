import assert from "node:assert/strict";
import {
  parseTlp,
  TLP_AMBER_ID,
  TLP_AMBER_STRICT_ID,
  TLP_CLEAR_ID,
  TLP_GREEN_ID,
  TLP_IDS,
  TLP_MARKINGS,
  TLP_RED_ID,
  tlpOf,
} from "../../src/stix/markings.ts";
import { standardIdOf } from "../../src/stix/ids.ts";

Deno.test("TLP ids are the fixed ids of the reference (opencti.md §4.3)", () => {
  assert.equal(TLP_CLEAR_ID, "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9");
  assert.equal(TLP_IDS.white, TLP_CLEAR_ID);
  assert.equal(TLP_GREEN_ID, "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da");
  assert.equal(TLP_AMBER_ID, "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82");
  assert.equal(TLP_AMBER_STRICT_ID, "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37");
  assert.equal(TLP_RED_ID, "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed");
});

Deno.test("TLP_MARKINGS objects carry their fixed id, and the platform rule gives the same id", async () => {
  for (const [tlp, marking] of Object.entries(TLP_MARKINGS)) {
    assert.equal(marking.id, TLP_IDS[tlp as keyof typeof TLP_IDS]);
    assert.equal(marking.type, "marking-definition");
    assert.equal(marking.name, `TLP:${tlp.toUpperCase()}`);
    assert.equal(await standardIdOf(marking), marking.id);
  }
});

Deno.test("tlpOf() returns the most restrictive TLP among ids and objects", () => {
  assert.equal(tlpOf([TLP_GREEN_ID, TLP_RED_ID, TLP_AMBER_ID]), "red");
  assert.equal(tlpOf([TLP_AMBER_ID, TLP_AMBER_STRICT_ID]), "amber+strict");
  assert.equal(tlpOf([TLP_CLEAR_ID, TLP_GREEN_ID]), "green");
  assert.equal(tlpOf([TLP_CLEAR_ID]), "clear");
  assert.equal(tlpOf([TLP_MARKINGS.white]), "white");
  assert.equal(tlpOf(["marking-definition--00000000-0000-4000-8000-000000000000"]), undefined);
  assert.equal(tlpOf([]), undefined);
  assert.equal(tlpOf(undefined), undefined);
  // Objects with unknown ids are read from their definition or name.
  assert.equal(
    tlpOf([
      {
        type: "marking-definition",
        id: "marking-definition--x",
        definition_type: "TLP",
        definition: "TLP:AMBER",
      },
      {
        type: "marking-definition",
        id: "marking-definition--y",
        definition_type: "tlp",
        definition: { tlp: "green" },
      },
    ]),
    "amber",
  );
  assert.equal(
    tlpOf([{ type: "marking-definition", id: "m", definition_type: "PAP", name: "PAP:RED" }]),
    undefined,
  );
});

Deno.test("parseTlp() reads names in any case with or without the TLP: prefix", () => {
  assert.equal(parseTlp("TLP:AMBER+STRICT"), "amber+strict");
  assert.equal(parseTlp("tlp:green"), "green");
  assert.equal(parseTlp(" red "), "red");
  assert.equal(parseTlp("TLP:PURPLE"), undefined);
});
