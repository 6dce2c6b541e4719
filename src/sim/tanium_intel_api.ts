/**
 * The intel side of the Tanium Threat Response simulator: what `stream/tanium-intel` writes
 * (upstream `OpenCTI-Platform/connectors` `src/tanium_intel_connector/api_handler.py`; shapes of
 * the answers from `/work/shared/reference/tanium.md` §2.5). Strict: a body of the wrong type, a
 * missing header, an unknown source, document or label is refused as Tanium refuses it (400, 404,
 * 415). Does not import the production code it checks.
 */
import type { Context, Hono } from "hono";
import type { SimIntel } from "./tanium_seed.ts";
import type { SimBindings, TaniumSimControl } from "./tanium.ts";

const PLATFORMS = new Set(["windows", "linux", "mac"]);
const QUICK_ADD_TYPES = new Set(["Network Indicators", "File Hashes"]);
const HASH = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/;
const YARA_RULE = /\brule\s+[A-Za-z_][A-Za-z0-9_]*[^{]*\{[\s\S]*\bcondition\s*:[\s\S]*\}/;

type Body = {
  type: string;
  name: string;
  description: string;
  platforms: string[];
  contents: string;
};

function bad(c: Context, text: string, status: 400 | 404 | 409 | 415 = 400): Response {
  return c.json({ text }, status);
}

/** Reads and checks a create/update body; a string is the refusal. */
async function readIntelBody(c: Context): Promise<Body | string> {
  const contentType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  const text = await c.req.text();
  if (contentType === "application/json") {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return "The body is not JSON";
    }
    const o = typeof json === "object" && json !== null ? json as Record<string, unknown> : {};
    if (typeof o.name !== "string" || o.name.trim() === "") return "A Tanium signal needs a name";
    if (typeof o.contents !== "string" || o.contents.trim() === "") {
      return "A Tanium signal needs contents";
    }
    const platforms = o.platforms ?? [];
    if (!Array.isArray(platforms) || !platforms.every((p) => PLATFORMS.has(String(p)))) {
      return "platforms must be a list of windows, linux, mac";
    }
    if (o.description !== undefined && typeof o.description !== "string") {
      return "description must be a string";
    }
    return {
      type: "tanium-signal",
      name: o.name,
      description: o.description ?? "",
      platforms: platforms.map(String),
      contents: o.contents,
    };
  }
  const type = c.req.header("type");
  if (contentType === "application/octet-stream") {
    if (type !== "yara") return `Header type must be yara for an octet-stream upload, got ${type}`;
    const name = c.req.header("name");
    if (!name) return "A YARA upload needs the name header";
    if (!/filename=/.test(c.req.header("content-disposition") ?? "")) {
      return "A YARA upload needs content-disposition with a filename";
    }
    if (!YARA_RULE.test(text)) return "The document is not a YARA rule";
    return {
      type: "yara",
      name,
      description: c.req.header("description") ?? "",
      platforms: [],
      contents: text,
    };
  }
  if (contentType === "application/xml") {
    if (type !== "openioc" && type !== "stix") {
      return `Header type must be openioc or stix for an XML upload, got ${type}`;
    }
    if (type === "openioc" && !/<ioc[\s>]/.test(text)) return "The document is not OpenIOC";
    const name = /<short_description>([^<]*)<\/short_description>/.exec(text)?.[1] ?? "";
    const description = /<description>([^<]*)<\/description>/.exec(text)?.[1] ?? "";
    return {
      type,
      name: xmlUnescape(name),
      description: xmlUnescape(description),
      platforms: [],
      contents: text,
    };
  }
  return `Unsupported content type ${contentType}`;
}

function xmlEscape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function xmlUnescape(text: string): string {
  return text.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

/** Largest `limit` of the intel list (the alert list's bound, `tanium.md` §2.2). */
const MAX_INTEL_LIMIT = 500;

/** Adds the intel write routes under `prefix` (the session check is the app's middleware). */
export function intelWriteRoutes(
  app: Hono<{ Bindings: SimBindings }>,
  control: TaniumSimControl,
  prefix: string,
): void {
  const now = () => control.isoNow();

  app.get(`${prefix}/sources`, (c) => c.json({ data: control.sources }));
  app.post(`${prefix}/sources`, async (c) => {
    const o = await c.req.json().catch(() => undefined) as Record<string, unknown> | undefined;
    if (!o || o.type !== "api-client" || typeof o.name !== "string" || o.name === "") {
      return bad(c, "A source needs type api-client and a name");
    }
    if (control.sources.some((s) => s.name === o.name)) {
      return bad(c, `A source named ${o.name} exists`, 409);
    }
    const source = {
      id: control.sources.length + 1,
      type: o.type,
      name: o.name,
      description: typeof o.description === "string" ? o.description : "",
    };
    control.sources.push(source);
    return c.json({ data: source });
  });

  app.post(`${prefix}/sources/:id/intels`, async (c) => {
    const sourceId = Number(c.req.param("id"));
    if (!control.sources.some((s) => s.id === sourceId)) {
      return bad(c, `Source ${c.req.param("id")} not found`, 404);
    }
    const body = await readIntelBody(c);
    if (typeof body === "string") return bad(c, body, body.startsWith("Unsupported") ? 415 : 400);
    const at = now();
    const intel: SimIntel = {
      id: control.nextIntelId(),
      type: body.type,
      typeVersion: "1.0",
      name: body.name,
      description: body.description,
      platforms: body.platforms,
      contents: body.contents,
      labelIds: [],
      sourceId,
      alertCount: 0,
      unresolvedAlertCount: 0,
      createdAt: at,
      updatedAt: at,
    };
    control.addIntels([intel]);
    control.intelActivity.created.push(intel.id);
    return c.json({ data: intel });
  });

  // The intel list: `name`, `description`, `type` match as "contains" (as the alert filters do),
  // `sourceId` exactly; `limit` 1-500 (default 100), `offset`; `{data, meta}` envelope.
  app.get(`${prefix}/intels`, (c) => {
    const q = new URL(c.req.url).searchParams;
    const limitText = q.get("limit") ?? "100";
    const offsetText = q.get("offset") ?? "0";
    if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_INTEL_LIMIT) {
      return bad(c, `Invalid limit "${limitText}": use 1 to ${MAX_INTEL_LIMIT}`);
    }
    if (!/^\d+$/.test(offsetText)) return bad(c, `Invalid offset "${offsetText}"`);
    const contains = (field: string) => {
      const wanted = q.get(field);
      return (intel: SimIntel) =>
        wanted === null || String(intel[field] ?? "").toLowerCase().includes(wanted.toLowerCase());
    };
    const source = q.get("sourceId");
    const all = control.intels()
      .filter(contains("name"))
      .filter(contains("description"))
      .filter(contains("type"))
      .filter((intel) => source === null || String(intel.sourceId) === source)
      .sort((a, b) => a.id - b.id);
    const page = all.slice(Number(offsetText), Number(offsetText) + Number(limitText));
    control.intelActivity.lookups++;
    return c.json({
      data: page,
      meta: { totalCount: control.intels().length, filteredCount: all.length },
    });
  });

  app.put(`${prefix}/intels/:id/labels`, async (c) => {
    const intel = control.intel(Number(c.req.param("id")));
    if (!intel) return bad(c, `Intel document ${c.req.param("id")} not found`, 404);
    const o = await c.req.json().catch(() => undefined) as Record<string, unknown> | undefined;
    const label = control.labels.find((l) => l.id === o?.id);
    if (!label) return bad(c, `Label ${String(o?.id)} not found`, 404);
    const ids = Array.isArray(intel.labelIds) ? intel.labelIds.map(Number) : [];
    if (!ids.includes(label.id)) ids.push(label.id);
    control.addIntels([{ ...intel, labelIds: ids }]);
    return c.json({ data: control.intel(intel.id) });
  });

  app.put(`${prefix}/intels/:id`, async (c) => {
    const id = c.req.param("id");
    const intel = /^\d+$/.test(id) ? control.intel(Number(id)) : undefined;
    if (!intel) return bad(c, `Intel document ${id} not found`, 404);
    const body = await readIntelBody(c);
    if (typeof body === "string") return bad(c, body, body.startsWith("Unsupported") ? 415 : 400);
    if (body.type !== intel.type) {
      return bad(c, `Intel document ${id} is ${String(intel.type)}, not ${body.type}`);
    }
    const updated: SimIntel = {
      ...intel,
      name: body.name || intel.name,
      description: body.description,
      platforms: body.platforms,
      contents: body.contents,
      updatedAt: now(),
    };
    control.addIntels([updated]);
    return c.json({ data: updated });
  });

  app.delete(`${prefix}/intels/`, (c) => {
    const id = c.req.query("id") ?? "";
    if (!/^\d+$/.test(id)) return bad(c, "Give the document with ?id=");
    if (!control.deleteIntel(Number(id))) return bad(c, `Intel document ${id} not found`, 404);
    return c.body(null, 204);
  });

  app.post(`${prefix}/intels/quick-add`, async (c) => {
    const o = await c.req.json().catch(() => undefined) as Record<string, unknown> | undefined;
    if (!o || typeof o.type !== "string" || !QUICK_ADD_TYPES.has(o.type)) {
      return bad(c, "type must be Network Indicators or File Hashes");
    }
    if (typeof o.name !== "string" || typeof o.text !== "string") {
      return bad(c, "quick-add needs a name and a text");
    }
    const values = o.text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    if (values.length === 0) return bad(c, "quick-add needs at least one value");
    if (o.type === "File Hashes" && !values.every((value) => HASH.test(value))) {
      return bad(c, "File Hashes takes MD5, SHA-1 or SHA-256 values");
    }
    const search = o.type === "File Hashes" ? "FileItem/Md5sum" : "Network/DNS";
    const items = values.map((value) =>
      `<IndicatorItem condition="${o.exact === true ? "is" : "contains"}">` +
      `<Context search="${search}"/><Content type="string">${xmlEscape(value)}</Content>` +
      `</IndicatorItem>`
    ).join("");
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?><ioc xmlns="http://schemas.mandiant.com/2010/ioc">` +
      `<short_description>${xmlEscape(o.name)}</short_description>` +
      (typeof o.description === "string" && o.description !== ""
        ? `<description>${xmlEscape(o.description)}</description>`
        : "") +
      `<definition><Indicator operator="OR">${items}</Indicator></definition></ioc>`;
    return c.body(xml, 200, { "content-type": "application/xml" });
  });

  app.post(`${prefix}/intel/deploy`, (c) => {
    control.intelActivity.deploys++;
    return c.json({ data: { deployed: true } });
  });
  app.post(`${prefix}/on-demand-scans`, async (c) => {
    const o = await c.req.json().catch(() => undefined) as Record<string, unknown> | undefined;
    const group = o?.computerGroupId;
    const intelDocId = o?.intelDocId;
    if (!Number.isInteger(group) || !Number.isInteger(intelDocId)) {
      return bad(c, "An on-demand scan needs an integer computerGroupId and intelDocId");
    }
    if (!control.intel(Number(intelDocId))) {
      return bad(c, `Intel document ${String(intelDocId)} not found`, 404);
    }
    const scan = { computerGroupId: Number(group), intelDocId: Number(intelDocId) };
    control.intelActivity.scans.push(scan);
    return c.json({ data: scan });
  });

  app.get(`${prefix}/labels`, (c) => c.json({ data: control.labels }));
  app.post(`${prefix}/labels`, async (c) => {
    const o = await c.req.json().catch(() => undefined) as Record<string, unknown> | undefined;
    if (!o || typeof o.name !== "string" || o.name.trim() === "") {
      return bad(c, "A label needs a name");
    }
    if (control.labels.some((l) => l.name.toLowerCase() === String(o.name).toLowerCase())) {
      return bad(c, `A label named ${o.name} exists`, 409);
    }
    const label = {
      id: control.labels.length + 1,
      name: o.name,
      description: typeof o.description === "string" ? o.description : "",
    };
    control.labels.push(label);
    return c.json({ data: label });
  });
}

/** Deploys and quick scans the simulator records (`POST …/intel/deploy`, `…/on-demand-scans`). */
export interface IntelActivity {
  /** Number of deploys. */
  deploys: number;
  /** Ids of the documents created through the API, in order. */
  created: number[];
  /** Quick scans asked, in order. */
  scans: { computerGroupId: number; intelDocId: number }[];
  /** `GET …/intels` list requests. */
  lookups: number;
}
