import assert from "node:assert/strict";
import { createOpenCtiSimApp, type OpenCtiSimOptions, SIM_TOKEN } from "../../src/sim/opencti.ts";

/** Response JSON read loosely in assertions (the shapes are what the tests check). */
// deno-lint-ignore no-explicit-any
type Loose = any;

const ID = "8ef3e1b8-6f0e-4f2a-9a53-3c1a1b3a6c11";
const NOW = Date.parse("2024-06-10T06:13:20.123Z");

async function sim(options: OpenCtiSimOptions = {}) {
  let now = NOW;
  const parts = await createOpenCtiSimApp({ now: () => now, ...options });
  const post = async (
    query: string,
    variables: Record<string, unknown> = {},
    token = SIM_TOKEN,
  ) => {
    const response = await parts.app.request("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const text = await response.text();
    let body: Loose = {};
    try {
      body = JSON.parse(text);
    } catch {
      body = { text };
    }
    return { status: response.status, body };
  };
  const register = (input: Record<string, unknown> = {}) =>
    post(
      `mutation R($input: RegisterConnectorInput) { registerConnector(input: $input) { id connector_state connector_user_id config { push listen connection { host port } } } }`,
      { input: { id: ID, name: "Sentinel", type: "STREAM", scope: ["sentinel"], ...input } },
    );
  const ping = (state: string) =>
    post(
      `mutation P($id: ID!, $state: String) { pingConnector(id: $id, state: $state) { id connector_state } }`,
      {
        id: ID,
        state,
      },
    );
  const push = (bundle: unknown, workId?: string) =>
    post(
      `mutation B($connectorId: String!, $bundle: String!, $work_id: String) { stixBundlePush(connectorId: $connectorId, bundle: $bundle, work_id: $work_id) }`,
      {
        connectorId: ID,
        bundle: typeof bundle === "string" ? bundle : JSON.stringify(bundle),
        ...(workId ? { work_id: workId } : {}),
      },
    );
  return { ...parts, post, register, ping, push, tick: (ms: number) => (now += ms) };
}

const indicator = (value: string, extra: Record<string, unknown> = {}) => ({
  type: "indicator",
  id: `indicator--${crypto.randomUUID()}`,
  name: value,
  pattern: `[ipv4-addr:value = '${value}']`,
  pattern_type: "stix",
  valid_from: "2024-06-10T00:00:00.000Z",
  ...extra,
});

Deno.test("the simulator answers 405 to anything but POST on /graphql", async () => {
  const { app } = await sim();
  const response = await app.request("/graphql");
  assert.equal(response.status, 405);
  await response.body?.cancel();
});

Deno.test("the simulator answers AuthRequired with HTTP 200 for a missing or unknown token", async () => {
  const { post } = await sim();
  const { status, body } = await post("query { about { version } }", {}, "nope");
  assert.equal(status, 200);
  assert.equal(body.data, null);
  assert.equal(body.errors[0].name, "AuthRequired");
  assert.equal(body.errors[0].extensions.code, "AuthRequired");
  assert.equal(body.errors[0].data.reason, "You must be logged in to do this.");
});

Deno.test("the simulator rejects unknown fields and arguments with a validation error", async () => {
  const { post } = await sim();
  const field = await post("query { about { version } connectorz { id } }");
  assert.equal(field.status, 400);
  assert.equal(field.body.errors[0].extensions.code, "GRAPHQL_VALIDATION_FAILED");
  assert.equal(field.body.errors[0].message, 'Cannot query field "connectorz" on type "Query".');
  const arg = await post('query { connector(id: "x", verbose: true) { id } }');
  assert.equal(
    arg.body.errors[0].message,
    'Unknown argument "verbose" on field "Query.connector".',
  );
  const leaf = await post("query { about }");
  assert.match(leaf.body.errors[0].message, /must have a selection of subfields/);
});

Deno.test("auto_update is refused before 6.8.9 and accepted from 6.8.9", async () => {
  const old = await sim({ version: "6.8.8" });
  const refused = await old.register({ auto_update: false });
  assert.equal(refused.status, 400);
  assert.match(
    refused.body.errors[0].message,
    /Field "auto_update" is not defined by type "RegisterConnectorInput"/,
  );
  const current = await sim({ version: "6.8.9" });
  const accepted = await current.register({ auto_update: false });
  assert.equal(accepted.body.data.registerConnector.id, ID);
});

Deno.test("connectorInfo does not exist before 6.2.12", async () => {
  const { register, post } = await sim({ version: "6.2.11" });
  await register();
  const { status, body } = await post(
    `mutation P($id: ID!, $i: ConnectorInfoInput) { pingConnector(id: $id, connectorInfo: $i) { id } }`,
    {
      id: ID,
      i: {
        run_and_terminate: false,
        buffering: false,
        queue_threshold: 500,
        queue_messages_size: 0,
      },
    },
  );
  assert.equal(status, 400);
  assert.equal(
    body.errors[0].message,
    'Unknown argument "connectorInfo" on field "Mutation.pingConnector".',
  );
});

Deno.test("registerConnector validates name and type, returns config and keeps the stored state", async () => {
  const { register, ping } = await sim();
  const short = await register({ name: "S" });
  assert.equal(short.body.errors[0].name, "FunctionalError");
  const badType = await register({ type: "SOMETHING" });
  assert.equal(badType.status, 400);
  const first = await register();
  assert.deepEqual(first.body.data.registerConnector, {
    id: ID,
    connector_state: null,
    connector_user_id: "88ec0c6a-13ce-5e39-b486-354fe4a7084f",
    config: {
      push: `push_${ID}`,
      listen: `listen_${ID}`,
      connection: { host: "rabbitmq", port: 5672 },
    },
  });
  await ping('{"start_from": "1-0"}');
  const again = await register();
  assert.equal(again.body.data.registerConnector.connector_state, '{"start_from": "1-0"}');
});

Deno.test("pingConnector ignores the sent state exactly once after a reset", async () => {
  const { register, ping, post, graphql, tick } = await sim();
  await register();
  await ping('{"a":1}');
  const unknown = await post(`mutation { pingConnector(id: "nope", state: "x") { id } }`);
  assert.equal(unknown.body.errors[0].data.reason, "No connector found with the specified ID");
  const reset = await post(
    `mutation R($id: ID!) { resetStateConnector(id: $id) { id connector_state } }`,
    { id: ID },
  );
  assert.equal(reset.body.data.resetStateConnector.connector_state, "");
  const updatedBefore = graphql.connectors.get(ID)?.updated_at;
  tick(1000);
  const ignored = await ping('{"a":2}');
  assert.equal(ignored.body.data.pingConnector.connector_state, "");
  assert.equal(graphql.connectors.get(ID)?.updated_at, updatedBefore);
  const stored = await ping('{"a":3}');
  assert.equal(stored.body.data.pingConnector.connector_state, '{"a":3}');
  assert.deepEqual(graphql.pings.map((p) => p.resetApplied), [false, true, false]);
});

Deno.test("connector(id) reports the queue size in bytes", async () => {
  const { register, post, graphql } = await sim({ queueSizeBytes: 1234 });
  await register();
  const query =
    `query C($id: String!) { connector(id: $id) { id active connector_queue_details { messages_size } } }`;
  assert.equal(
    (await post(query, { id: ID })).body.data.connector.connector_queue_details.messages_size,
    1234,
  );
  graphql.setQueueSize(ID, 600_000_000);
  const { body } = await post(query, { id: ID });
  assert.equal(body.data.connector.connector_queue_details.messages_size, 600_000_000);
  assert.equal(body.data.connector.active, true);
});

Deno.test("stixBundlePush validates the bundle as the platform does", async () => {
  const { register, push, post } = await sim();
  await register();
  const notJson = await push("{not json");
  assert.equal(notJson.body.errors[0].name, "UnsupportedError");
  assert.equal(notJson.body.errors[0].data.reason, "Invalid bundle");
  assert.deepEqual(notJson.body.data, null);
  const empty = await push({ type: "bundle", id: "bundle--1", objects: [] });
  assert.equal(empty.body.errors[0].data.cause, "Invalid stix bundle");
  const wrongType = await push({
    type: "report",
    id: "bundle--1",
    objects: [indicator("1.1.1.1")],
  });
  assert.equal(wrongType.body.errors[0].data.cause, "Invalid stix bundle");
  const unknown = await post(
    `mutation { stixBundlePush(connectorId: "nope", bundle: ${
      JSON.stringify(JSON.stringify({ type: "bundle", objects: [indicator("1.1.1.1")] }))
    }) }`,
  );
  assert.equal(unknown.body.errors[0].data.cause, "Invalid connector");
});

Deno.test("stixBundlePush without work_id creates a work in progress that completes after import", async () => {
  const { register, push, graphql } = await sim();
  await register();
  graphql.holdImports();
  const { body } = await push({ type: "bundle", id: "bundle--1", objects: [indicator("1.1.1.1")] });
  assert.equal(body.data.stixBundlePush, true);
  const [work] = [...graphql.works.values()];
  assert.equal(work?.name, "Sentinel run @ 2024-06-10T06:13:20.123Z");
  assert.equal(work?.status, "progress");
  assert.equal(work?.import_expected_number, 1);
  assert.equal(graphql.pendingImports, 1);
  graphql.releaseImports();
  await graphql.settled();
  assert.equal(work?.status, "complete");
});

Deno.test("the import upserts by standard id, keeps the incoming id and emits stream events", async () => {
  const { register, push, graphql, store } = await sim();
  await register();
  const first = indicator("1.2.3.4");
  await push({ type: "bundle", id: "bundle--1", objects: [first] });
  await graphql.settled();
  const standard = "indicator--274128a4-2ad4-50b5-ae7b-b0dea1fa9861";
  assert.equal(store.get(first.id)?.id, standard);
  const second = indicator("1.2.3.4", { description: "again" });
  await push({ type: "bundle", id: "bundle--2", objects: [second] });
  await graphql.settled();
  assert.deepEqual(store.events().map((e) => [e.event, e.data.id]), [["create", standard], [
    "update",
    standard,
  ]]);
  assert.equal(store.get(second.id)?.description, "again");
  assert.equal(store.get(first.id)?.id, standard);
});

Deno.test("per-object failures and missing references land in the work's errors", async () => {
  const { register, push, graphql, post } = await sim();
  await register();
  const work = await post(
    `mutation { workAdd(connectorId: "${ID}", friendlyName: "run") { id status } }`,
  );
  const workId = work.body.data.workAdd.id as string;
  assert.equal(work.body.data.workAdd.status, "wait");
  const bad = indicator("5.5.5.5");
  graphql.failObject(bad.id, "Invalid pattern");
  const dangling = {
    type: "relationship",
    id: "relationship--0c3a1e77-0000-4000-8000-000000000003",
    relationship_type: "indicates",
    source_ref: "indicator--does-not-exist",
    target_ref: "malware--1bc77052-c136-5258-b95d-fc8117fba3fd",
  };
  await push(
    { type: "bundle", id: "bundle--1", objects: [indicator("6.6.6.6"), bad, dangling] },
    workId,
  );
  await graphql.settled();
  const stored = graphql.works.get(workId)!;
  assert.equal(stored.import_expected_number, 3);
  assert.equal(stored.import_processed_number, 3);
  assert.equal(stored.status, "complete");
  assert.deepEqual(stored.errors.map((e) => e.message), [
    "Invalid pattern",
    "MISSING_REFERENCE_ERROR: Element(s) not found: indicator--does-not-exist, malware--1bc77052-c136-5258-b95d-fc8117fba3fd",
  ]);
  assert.equal(JSON.parse(stored.errors[0]!.source!).id, bad.id);
});

Deno.test("workEdit sub-mutations return the work id and update the work", async () => {
  const { register, post } = await sim();
  await register();
  const { body } = await post(
    `mutation { workAdd(connectorId: "${ID}", friendlyName: "run") { id } }`,
  );
  const id = body.data.workAdd.id;
  assert.equal(id, `work_${ID}_2024-06-10T06:13:20.123Z`);
  const edit = await post(
    `mutation E($id: ID!) { workEdit(id: $id) { toReceived(message: "go") addExpectations(expectations: 1) } }`,
    { id },
  );
  assert.deepEqual(edit.body.data.workEdit, { toReceived: id, addExpectations: id });
  const read = await post(
    `query W($id: ID!) { work(id: $id) { status messages { message } tracking { import_expected_number } } }`,
    { id },
  );
  assert.deepEqual(read.body.data.work, {
    status: "progress",
    messages: [{ message: "go" }],
    tracking: { import_expected_number: 1 },
  });
  const list = await post(
    `query { works(first: 5, filters: {mode: and, filters: [{key: "connector_id", values: ["${ID}"]}], filterGroups: []}) { edges { node { id } } } }`,
  );
  assert.deepEqual(list.body.data.works.edges, [{ node: { id } }]);
});

Deno.test("the modern error layout carries the reason in message and the code in upper snake case", async () => {
  const { ping, register } = await sim({ errorLayout: "modern" });
  const { body } = await ping("x");
  assert.equal(body.errors[0].message, "No connector found with the specified ID");
  assert.equal(body.errors[0].extensions.code, "FUNCTIONAL_ERROR");
  assert.equal(body.errors[0].extensions.data.http_status, 500);
  await register();
  assert.equal((await ping("x")).body.data.pingConnector.connector_state, "x");
});

Deno.test("injected failures target chosen operations, and delays use the injected sleep", async () => {
  const slept: number[] = [];
  const { post, graphql } = await sim({
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
  });
  graphql.injectFailure({
    field: "workAdd",
    error: { name: "DatabaseError", reason: "Elastic down" },
  });
  graphql.injectFailure({ field: "about", delayMs: 7000 });
  graphql.injectFailure({ field: "connector", status: 503, times: -1 });
  assert.equal((await post("query { about { version } }")).body.data.about.version, "6.8.10");
  assert.deepEqual(slept, [7000]);
  const failed = await post(`mutation { workAdd(connectorId: "x") { id } }`);
  assert.equal(failed.body.errors[0].data.reason, "Elastic down");
  assert.equal((await post(`query { connector(id: "x") { id } }`)).status, 503);
  assert.equal((await post(`query { connector(id: "x") { id } }`)).status, 503);
  graphql.clearFailures();
  assert.equal((await post(`query { connector(id: "x") { id } }`)).status, 200);
  assert.deepEqual(graphql.calls.map((c) => c.status), [200, 200, 503, 503, 200]);
});

Deno.test("the control API seeds, updates and deletes indicators and exposes connector states", async () => {
  const { app, store, register, graphql } = await sim({ seed: true });
  const seeded = store.list("indicator").length;
  assert.ok(seeded > 5);
  const routes = await (await app.request("/_sim/")).json() as Record<string, string>;
  assert.ok(Object.keys(routes).length > 10);
  const object = indicator("9.9.9.9");
  const added = await app.request("/_sim/indicators", {
    method: "POST",
    body: JSON.stringify({ objects: [object] }),
  });
  assert.equal(added.status, 200);
  await added.body?.cancel();
  const patched = await app.request(`/_sim/indicators/${object.id}`, {
    method: "PATCH",
    body: JSON.stringify({ revoked: true }),
  });
  await patched.body?.cancel();
  assert.equal(store.get(object.id)?.revoked, true);
  const removed = await app.request(`/_sim/indicators/${object.id}`, { method: "DELETE" });
  await removed.body?.cancel();
  assert.equal(store.get(object.id), undefined);
  assert.deepEqual(store.events().slice(-3).map((e) => e.event), ["create", "update", "delete"]);
  await register();
  const reset = await app.request(`/_sim/connectors/${ID}/reset`, { method: "POST" });
  await reset.body?.cancel();
  assert.equal(graphql.connectors.get(ID)?.connector_state_reset, true);
  const connectors = await (await app.request("/_sim/connectors")).json() as { id: string }[];
  assert.deepEqual(connectors.map((c) => c.id), [ID]);
  const failure = await app.request("/_sim/failures/graphql", {
    method: "POST",
    body: JSON.stringify({ field: "about", status: 500 }),
  });
  await failure.body?.cancel();
  const about = await app.request("/graphql", {
    method: "POST",
    headers: { authorization: `Bearer ${SIM_TOKEN}` },
    body: JSON.stringify({ query: "{ about { version } }" }),
  });
  assert.equal(about.status, 500);
  await about.body?.cancel();
});

Deno.test("externalReferenceAdd and stixDomainObjectEdit.relationAdd attach a reference once and emit one update", async () => {
  const s = await sim();
  const target = s.store.upsert({
    ...indicator("198.51.100.1"),
    external_references: [{ source_name: "acme-intel", url: "https://intel.acme.example/1" }],
  }).event.data;
  const before = s.store.events().length;
  const added = await s.post(
    `mutation ExternalReferenceAdd($input: ExternalReferenceAddInput!) { externalReferenceAdd(input: $input) { id standard_id source_name url external_id } }`,
    {
      input: {
        source_name: "Microsoft Graph",
        url: "https://graph.example/x",
        external_id: target.id,
        description: "synced",
      },
    },
  );
  assert.equal(added.status, 200);
  const reference = added.body.data.externalReferenceAdd;
  assert.match(reference.standard_id, /^external-reference--/);
  assert.equal(reference.source_name, "Microsoft Graph");
  assert.equal(s.store.events().length, before, "creating a reference alone emits nothing");

  const relationAdd = (id: string, toId: string, type = "external-reference") =>
    s.post(
      `mutation StixDomainObjectEditRelationAdd($id: ID!, $input: StixRefRelationshipAddInput!) { stixDomainObjectEdit(id: $id) { relationAdd(input: $input) { id relationship_type } } }`,
      { id, input: { toId, relationship_type: type } },
    );
  const first = await relationAdd(target.id, reference.id);
  assert.equal(
    first.body.data.stixDomainObjectEdit.relationAdd.relationship_type,
    "external-reference",
  );
  const events = s.store.events().slice(before);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.event, "update");
  const refs = s.store.get(target.id)!.external_references as Loose[];
  assert.deepEqual(refs.map((r) => r.source_name), ["acme-intel", "Microsoft Graph"]);
  assert.equal(refs[1].external_id, target.id);
  const patch = events[0]!.context!.patch as Loose[];
  assert.ok(patch.some((op) => String(op.path).startsWith("/external_references")));

  // Adding the same reference again changes nothing and emits nothing (no write-back loop).
  await relationAdd(target.id, reference.standard_id);
  assert.equal(s.store.events().length, before + 1);

  // The reference is now listed, carried by the indicator.
  const listed = await s.post(
    `query R($filters: FilterGroup) { externalReferences(filters: $filters) { edges { node { id source_name external_id } } } }`,
    {
      filters: {
        mode: "and",
        filterGroups: [],
        filters: [{ key: ["source_name"], values: ["Microsoft Graph"] }],
      },
    },
  );
  assert.equal(listed.body.data.externalReferences.edges.length, 1);

  // Errors: unknown object, unknown reference, other relation types, missing source_name.
  const unknown = await relationAdd(
    "indicator--00000000-0000-4000-8000-000000000000",
    reference.id,
  );
  assert.equal(unknown.body.errors[0].name, "FunctionalError");
  const noRef = await relationAdd(
    target.id,
    "external-reference--00000000-0000-4000-8000-000000000000",
  );
  assert.equal(noRef.body.errors[0].name, "FunctionalError");
  const label = await relationAdd(target.id, reference.id, "object-label");
  assert.equal(label.body.errors[0].name, "UnsupportedError");
  const missing = await s.post(
    `mutation A($input: ExternalReferenceAddInput!) { externalReferenceAdd(input: $input) { id } }`,
    { input: { url: "https://x.example" } },
  );
  assert.equal(missing.status, 400, "source_name is required by the schema");
});
