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
