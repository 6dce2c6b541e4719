import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  encodeQueryValue,
  filterQuery,
  odataEq,
  odataString,
  readODataString,
} from "../../src/microsoft/odata.ts";

const NASTY = "http://evil.example/a b?x=1&y='2'#frag+plus%25";

Deno.test("odataString() doubles single quotes and wraps the value in quotes", () => {
  assertEquals(odataString("abc"), "'abc'");
  assertEquals(odataString("O'Brien"), "'O''Brien'");
  assertEquals(odataString("''"), "''''''");
});

Deno.test("filterQuery() percent-encodes the whole expression with %20 for spaces", () => {
  assertEquals(filterQuery("externalId eq 'abc'"), "$filter=externalId%20eq%20%27abc%27");
  const query = filterQuery(odataEq("url", NASTY));
  assertEquals(/[ ?&#+']/.test(query.slice("$filter=".length)), false, query);
});

Deno.test("filterQuery() round-trips a URL with ?, &, ', # and + through a request URL", () => {
  const url = new URL(
    `https://graph.microsoft.com/beta/security/tiIndicators?${filterQuery(odataEq("url", NASTY))}`,
  );
  assertEquals([...url.searchParams.keys()], ["$filter"]);
  const filter = url.searchParams.get("$filter") ?? "";
  assertEquals(filter, `url eq '${NASTY.replaceAll("'", "''")}'`);
  const literal = readODataString(filter, "url eq ".length);
  assertEquals(literal?.value, NASTY);
  assertEquals(literal?.end, filter.length);
});

Deno.test("encodeQueryValue() encodes the characters encodeURIComponent leaves alone", () => {
  assertEquals(encodeQueryValue("a'b(c)*!"), "a%27b%28c%29%2A%21");
});

Deno.test("readODataString() reports an unterminated literal as undefined", () => {
  assertEquals(readODataString("'abc", 0), undefined);
  assertEquals(readODataString("'it''s", 0), undefined);
  assertEquals(readODataString("'it''s' and", 0), { value: "it's", end: 7 });
});
