/** The intel side of the Tanium simulator is as strict as the documented API. */
import assert from "node:assert/strict";
import { startTaniumSim, TANIUM_SIM_TOKEN } from "../../src/sim/tanium.ts";

const PREFIX = "/plugin/products/threat-response/api/v1";

Deno.test("Tanium simulator intel API: sources, documents per format, labels, delete, and the alert a document raises", async () => {
  const sim = startTaniumSim({ now: () => Date.parse("2024-06-10T06:00:00.000Z") });
  const call = async (method: string, path: string, body?: string, headers = {}) => {
    const response = await fetch(`${sim.url}${PREFIX}${path}`, {
      method,
      headers: { session: TANIUM_SIM_TOKEN, "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    return { status: response.status, text };
  };
  try {
    assert.equal((await call("GET", "/sources", undefined, { session: "" })).status, 401);
    assert.equal((await call("POST", "/sources", JSON.stringify({ name: "OpenCTI" }))).status, 400);
    const source = JSON.parse(
      (await call("POST", "/sources", JSON.stringify({ type: "api-client", name: "OpenCTI" })))
        .text,
    ).data;
    assert.equal((await call("POST", "/sources/99/intels", "{}")).status, 404);
    const signal = JSON.stringify({ name: "s", contents: "x", platforms: ["windows"] });
    assert.equal(
      (await call("POST", `/sources/${source.id}/intels`, signal, { "content-type": "text/plain" }))
        .status,
      415,
    );
    assert.equal(
      (await call(
        "POST",
        `/sources/${source.id}/intels`,
        JSON.stringify({ name: "s", contents: "x", platforms: ["android"] }),
      )).status,
      400,
    );
    const created = await call("POST", `/sources/${source.id}/intels`, signal);
    assert.equal(created.status, 200);
    const id = JSON.parse(created.text).data.id as number;

    const yaraHeaders = { "content-type": "application/octet-stream", type: "yara", name: "r" };
    assert.equal(
      (await call(
        "POST",
        `/sources/${source.id}/intels`,
        "rule a { condition: true }",
        yaraHeaders,
      ))
        .status,
      400,
      "a YARA upload without content-disposition",
    );
    assert.equal(
      (await call("POST", `/sources/${source.id}/intels`, "not yara", {
        ...yaraHeaders,
        "content-disposition": "attachment; filename=r.yara",
      })).status,
      400,
    );
    assert.equal(
      (await call(
        "POST",
        "/intels/quick-add",
        JSON.stringify({ exact: true, name: "h", type: "File Hashes", text: "not-a-hash" }),
      )).status,
      400,
    );
    const ioc = await call(
      "POST",
      "/intels/quick-add",
      JSON.stringify({ exact: true, name: "n", type: "Network Indicators", text: "1.2.3.4" }),
    );
    assert.match(ioc.text, /<ioc[\s>][\s\S]*1\.2\.3\.4/);
    assert.equal(
      (await call("PUT", `/intels/${id}`, ioc.text, {
        "content-type": "application/xml",
        type: "openioc",
      })).status,
      400,
      "a document keeps its type",
    );

    assert.equal(
      (await call("PUT", `/intels/${id}/labels`, JSON.stringify({ id: 9 }))).status,
      404,
    );
    const label = JSON.parse(
      (await call("POST", "/labels", JSON.stringify({ name: "malware" }))).text,
    ).data;
    assert.equal((await call("POST", "/labels", JSON.stringify({ name: "Malware" }))).status, 409);
    assert.equal(
      (await call("PUT", `/intels/${id}/labels`, JSON.stringify({ id: label.id }))).status,
      200,
    );
    assert.deepEqual(sim.control.intel(id)?.labelIds, [label.id]);

    const alert = sim.control.raiseAlertFor(id, "HOST-1");
    assert.equal(alert?.intelDocId, id);
    assert.equal(alert?.computerName, "HOST-1");
    assert.equal(alert?.alertedAt, "2024-06-10T06:00:00.000Z");
    assert.equal(sim.control.raiseAlertFor(123456), undefined);

    assert.equal((await call("DELETE", `/intels/?id=${id}`)).status, 204);
    assert.equal((await call("DELETE", `/intels/?id=${id}`)).status, 404);
    assert.equal(sim.control.intel(id), undefined);
  } finally {
    await sim.close();
  }
});

Deno.test("Tanium simulator intel list: description, name and source filters (contains), limit 1-500, the {data, meta} envelope", async () => {
  const sim = startTaniumSim({ now: () => Date.parse("2024-06-10T06:00:00.000Z") });
  const get = async (query: string) => {
    const response = await fetch(`${sim.url}${PREFIX}/intels?${query}`, {
      headers: { session: TANIUM_SIM_TOKEN, "content-type": "application/json" },
    });
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  };
  try {
    sim.control.addIntels([
      { id: 900, name: "a", description: "first [OpenCTI indicator--1]", sourceId: 1 },
      { id: 901, name: "b", description: "second [OpenCTI indicator--2]", sourceId: 2 },
    ]);
    const found = await get(`description=${encodeURIComponent("[OpenCTI indicator--1]")}`);
    assert.equal(found.status, 200);
    assert.deepEqual((found.body.data as { id: number }[]).map((i) => i.id), [900]);
    assert.deepEqual(found.body.meta, { totalCount: 2, filteredCount: 1 });
    assert.deepEqual(
      ((await get("description=OpenCTI&sourceId=2")).body.data as { id: number }[]).map((i) =>
        i.id
      ),
      [901],
    );
    assert.equal((await get("limit=501")).status, 400);
    assert.equal((await get("limit=0")).status, 400);
    assert.equal((await get("offset=-1")).status, 400);
  } finally {
    await sim.close();
  }
});

Deno.test("Tanium simulator Reputation service: session and permission checks, strict entries, append vs replace, delete by hash, search", async () => {
  const sim = startTaniumSim({ now: () => Date.parse("2024-06-10T06:00:00.000Z") });
  const REP = "/plugin/products/reputation/v3/reputations/custom";
  const call = async (method: string, path: string, body?: unknown, headers = {}) => {
    const response = await fetch(`${sim.url}${REP}${path}`, {
      method,
      headers: { session: TANIUM_SIM_TOKEN, "content-type": "application/json", ...headers },
      ...(body === undefined
        ? {}
        : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  };
  const md5 = "2204459dcbf34aed8906daac26db6f56";
  const sha256 = "aa64428647b57bf51524d1756b2ed746e5a3f31b67cf7fe5b5d8a9daf07ca313";
  const entry = { list: "blacklist", md5, sha1: "", sha256, uploadedHash: sha256, notes: "x" };
  try {
    assert.equal((await call("POST", "/upload?append=true", [entry], { session: "" })).status, 401);
    sim.control.noReputationTokens.add(TANIUM_SIM_TOKEN);
    assert.equal((await call("POST", "/upload?append=true", [entry])).status, 403);
    sim.control.noReputationTokens.clear();

    const refused: [unknown, number][] = [
      [entry, 400], // not an array
      [[], 400],
      [[{ ...entry, list: "greylist" }], 400],
      [[{ ...entry, md5: "abc" }], 400],
      [[{ ...entry, sha256: "z".repeat(64) }], 400],
      [[{ ...entry, uploadedHash: "0".repeat(32) }], 400],
      [[{ ...entry, notes: 3 }], 400],
    ];
    for (const [body, status] of refused) {
      assert.equal(
        (await call("POST", "/upload?append=true", body)).status,
        status,
        JSON.stringify(body),
      );
    }
    assert.equal((await call("POST", "/upload?append=maybe", [entry])).status, 400);
    assert.equal(
      (await call("POST", "/upload?append=true", "md5\n", { "content-type": "text/csv" })).status,
      415,
    );
    assert.equal(sim.control.reputations.size, 0, "nothing from a refused request is kept");

    const other = {
      list: "blacklist",
      md5: "",
      sha1: "f".repeat(40),
      sha256: "",
      uploadedHash: "f".repeat(40),
    };
    assert.equal((await call("POST", "/upload?append=true", [entry, other])).status, 200);
    assert.equal(sim.control.reputations.size, 2);
    // append=false replaces the whole list.
    assert.equal((await call("POST", "/upload?append=false", [entry])).status, 200);
    assert.deepEqual([...sim.control.reputations.keys()], [sha256]);
    const search = await call("GET", `?search=${md5}`);
    assert.equal((search.body.data as unknown[]).length, 1);

    assert.equal((await call("POST", "/delete", ["nothex"])).status, 400);
    const deleted = await call("POST", "/delete", [md5]);
    assert.deepEqual(deleted.body, { data: { deleted: 1 } });
    assert.equal(sim.control.reputations.size, 0);
    assert.deepEqual(sim.control.reputationActivity, { uploads: [2, 1], deletes: [1] });
  } finally {
    await sim.close();
  }
});
