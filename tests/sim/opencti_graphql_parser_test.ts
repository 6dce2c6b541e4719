import assert from "node:assert/strict";
import { GraphqlSyntaxError, parseOperation } from "../../src/sim/opencti_graphql_parser.ts";

Deno.test("parseOperation() flattens named and inline fragments, each field keeping its type condition", () => {
  const operation = parseOperation(`
    query Read($id: String) {
      stixCoreObject(id: $id) {
        id
        ...Core
        ... on Indicator { pattern ... on StixDomainObject { standard_id } }
        ... { entity_type }
      }
    }
    fragment Core on StixCoreObject { created_at createdBy { ... on Identity { name } } }
  `);
  const fields = operation.selections[0]!.selections!;
  assert.deepEqual(
    fields.map((f) => [f.name, f.on]),
    [
      ["id", undefined],
      ["created_at", "StixCoreObject"],
      ["createdBy", "StixCoreObject"],
      ["pattern", "Indicator"],
      ["standard_id", "StixDomainObject"],
      ["entity_type", undefined],
    ],
  );
  const createdBy = fields.find((f) => f.name === "createdBy")!;
  assert.deepEqual(createdBy.selections!.map((f) => [f.name, f.on]), [["name", "Identity"]]);
});

Deno.test("parseOperation() refuses unknown, self-spreading and unused fragments as GraphQL does", () => {
  assert.throws(() => parseOperation(`{ about { ...Missing } }`), /Unknown fragment "Missing"/);
  assert.throws(
    () => parseOperation(`{ about { ...A } } fragment A on AppInfo { version ...A }`),
    (error: unknown) => error instanceof GraphqlSyntaxError && /within itself/.test(error.message),
  );
  assert.throws(
    () => parseOperation(`{ about { version } } fragment Unused on AppInfo { version }`),
    /Fragment "Unused" is never used/,
  );
  assert.throws(
    () =>
      parseOperation(
        `{ about { ...A } } fragment A on AppInfo { version } fragment A on AppInfo { version }`,
      ),
    /only one fragment named "A"/,
  );
});
