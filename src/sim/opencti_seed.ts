/**
 * Seed data for the OpenCTI simulator: realistic STIX 2.1 indicators covering every observable
 * type the sentinel connector maps, plus a seeded generator for large volumes (benchmarks).
 *
 * Ids follow the platform rule for indicators (§5: uuid5 over `{"pattern": …}`), so they equal
 * the ids a real platform would show. Everything is deterministic: no clock, no unseeded random.
 *
 * @module
 */
import { uuidV5 } from "../stix/uuid.ts";
import type { StixObject } from "../stix/types.ts";
import type { OpenCtiStore } from "./opencti_store.ts";
import { seededRandom } from "./seeded_random.ts";

export { seededRandom };

/** The STIX 2.1 namespace the platform uses for standard ids. */
const STIX_NAMESPACE = "00abedb4-aa42-466c-9c01-fed23315a9b7";

/** Fixed TLP marking ids (reference §4.3). */
export const SEED_TLP = {
  clear: "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
  green: "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
  amber: "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
  amberStrict: "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
  red: "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
} as const;

/** The seed author: `{"identity_class":"organization","name":"acme corp"}` (reference §5.3 vector). */
export const SEED_AUTHOR_ID = "identity--542072da-8b33-50bf-810b-d9cfd2a0bc69";

/** Default reference time of the seed (valid_from/valid_until are relative to it). */
export const SEED_TIME = "2024-06-10T07:13:20.000Z";

const DAY = 86_400_000;

/** Options of {@linkcode seedObjects} and {@linkcode generateIndicators}. */
export interface SeedOptions {
  /** Reference time in epoch ms: indicators are valid from before it, expired ones end before it. @default Date.parse(SEED_TIME) */
  time?: number;
}

/** The STIX id the platform gives an indicator with this pattern. */
export async function indicatorId(pattern: string): Promise<string> {
  return `indicator--${await uuidV5(JSON.stringify({ pattern }), STIX_NAMESPACE)}`;
}

/** What one seed indicator is about (used to build the STIX object). */
interface IndicatorSpec {
  name: string;
  description: string;
  pattern: string;
  patternType?: string;
  mainObservableType?: string;
  labels: string[];
  tlp: keyof typeof SEED_TLP;
  score: number;
  indicatorTypes: string[];
  phase?: string;
  revoked?: boolean;
  validDays?: [number, number];
  detection?: boolean;
}

/** The hand-written seed indicators: one per observable type and the edge cases (§4.2 shape). */
const SPECS: readonly IndicatorSpec[] = [
  {
    name: "1.2.3.4",
    description: "C2 server of a commodity loader",
    pattern: "[ipv4-addr:value = '1.2.3.4']",
    labels: ["malicious-activity", "c2"],
    tlp: "green",
    score: 80,
    indicatorTypes: ["malicious-activity"],
    phase: "command-and-control",
  },
  {
    name: "2001:db8:85a3::8a2e:370:7334",
    description: "IPv6 scanning source",
    pattern: "[ipv6-addr:value = '2001:db8:85a3::8a2e:370:7334']",
    labels: ["scanner"],
    tlp: "clear",
    score: 55,
    indicatorTypes: ["anomalous-activity"],
    phase: "reconnaissance",
  },
  {
    name: "shortsvelventysjo.shop",
    description: "Phishing kit landing domain",
    pattern: "[domain-name:value = 'shortsvelventysjo.shop']",
    labels: ["phishing"],
    tlp: "green",
    score: 70,
    indicatorTypes: ["malicious-activity"],
    phase: "initial-access",
  },
  {
    name: "mail-relay.corp-updates.net",
    description: "Hostname used as an SMTP relay by the actor",
    pattern: "[hostname:value = 'mail-relay.corp-updates.net']",
    labels: ["c2"],
    tlp: "amber",
    score: 65,
    indicatorTypes: ["malicious-activity"],
    phase: "command-and-control",
  },
  {
    name: "http://198.51.100.23/gate.php?id=42&user=o'brien",
    description: "Loader gate URL (query string with `&` and a quote)",
    pattern: "[url:value = 'http://198.51.100.23/gate.php?id=42&user=o\\'brien']",
    labels: ["malicious-activity", "loader"],
    tlp: "amber",
    score: 75,
    indicatorTypes: ["malicious-activity"],
    phase: "delivery",
  },
  {
    name: "invoice@paypa1-billing.com",
    description: "Sender of invoice-themed phishing",
    pattern: "[email-addr:value = 'invoice@paypa1-billing.com']",
    labels: ["phishing"],
    tlp: "green",
    score: 60,
    indicatorTypes: ["malicious-activity"],
    phase: "initial-access",
  },
  {
    name: "eicar.com (MD5)",
    description: "EICAR test file",
    pattern: "[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f']",
    labels: ["test-file"],
    tlp: "clear",
    score: 50,
    indicatorTypes: ["benign"],
  },
  {
    name: "dropper.exe (SHA-1)",
    description: "First-stage dropper",
    pattern: "[file:hashes.'SHA-1' = '3395856ce81f2b7382dee72602f798b642f14140']",
    labels: ["malware", "dropper"],
    tlp: "amber",
    score: 85,
    indicatorTypes: ["malicious-activity"],
    phase: "execution",
  },
  {
    name: "payload.dll (SHA-256)",
    description: "Second-stage payload",
    pattern:
      "[file:hashes.'SHA-256' = '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f']",
    labels: ["malware"],
    tlp: "red",
    score: 90,
    indicatorTypes: ["malicious-activity"],
    phase: "execution",
  },
  {
    name: "stealer.bin (sha256, lower-case key)",
    description: "Info-stealer sample; hash key spelled in lower case without hyphen",
    pattern:
      "[file:hashes.sha256 = 'ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa']",
    labels: ["malware", "stealer"],
    tlp: "amber",
    score: 80,
    indicatorTypes: ["malicious-activity"],
  },
  {
    name: "Loader infrastructure (IP or domain)",
    description: "Either of these observables indicates the loader",
    pattern: "[ipv4-addr:value = '203.0.113.7'] OR [domain-name:value = 'update-check.example']",
    labels: ["c2", "loader"],
    tlp: "green",
    score: 70,
    indicatorTypes: ["malicious-activity"],
    phase: "command-and-control",
  },
  {
    name: "Ransomware sample (MD5 or SHA-256)",
    description: "Same file described by two hashes",
    pattern:
      "[file:hashes.MD5 = '84c82835a5d21bbcf75a61706d8ab549' OR file:hashes.'SHA-256' = 'ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41a0']",
    labels: ["ransomware"],
    tlp: "amber",
    score: 95,
    indicatorTypes: ["malicious-activity"],
    phase: "impact",
  },
  {
    name: "Suspicious encoded PowerShell",
    description: "Sigma rule: encoded PowerShell command lines",
    pattern: [
      "title: Suspicious Encoded PowerShell",
      "logsource:",
      "  product: windows",
      "  category: process_creation",
      "detection:",
      "  selection:",
      "    CommandLine|contains: ' -enc '",
      "  condition: selection",
    ].join("\n"),
    patternType: "sigma",
    labels: ["powershell"],
    tlp: "clear",
    score: 40,
    indicatorTypes: ["anomalous-activity"],
    phase: "execution",
  },
  {
    name: "CobaltStrike beacon strings",
    description: "YARA rule for unpacked beacons",
    pattern:
      'rule CobaltStrike_Beacon { strings: $a = "%s.4%08x%08x%08x%08x%08x.%08x%08x%08x%08x%08x%08x%08x.%08x%08x%08x%08x%08x%08x%08x.%08x%08x%08x%08x%08x%08x%08x.%x%x.%s" condition: $a }',
    patternType: "yara",
    mainObservableType: "StixFile",
    labels: ["cobalt-strike"],
    tlp: "amber",
    score: 85,
    indicatorTypes: ["malicious-activity"],
  },
  {
    name: "192.0.2.66 (revoked)",
    description: "Former C2, now a sinkhole",
    pattern: "[ipv4-addr:value = '192.0.2.66']",
    labels: ["c2"],
    tlp: "green",
    score: 20,
    indicatorTypes: ["malicious-activity"],
    revoked: true,
  },
  {
    name: "old-campaign.example (expired)",
    description: "Domain of a finished campaign",
    pattern: "[domain-name:value = 'old-campaign.example']",
    labels: ["phishing"],
    tlp: "green",
    score: 60,
    indicatorTypes: ["malicious-activity"],
    validDays: [-200, -10],
  },
];

/** The seed's author identity and TLP marking definitions (dependencies of the indicators). */
export function seedContext(): StixObject[] {
  const created = "2024-01-01T00:00:00.000Z";
  const markings = Object.entries(
    { clear: "CLEAR", green: "GREEN", amber: "AMBER", amberStrict: "AMBER+STRICT", red: "RED" },
  ).map(([key, name]) => ({
    id: SEED_TLP[key as keyof typeof SEED_TLP],
    type: "marking-definition",
    spec_version: "2.1",
    created,
    definition_type: "TLP",
    name: `TLP:${name}`,
    definition: { tlp: name.toLowerCase() },
  }));
  return [
    {
      id: SEED_AUTHOR_ID,
      type: "identity",
      spec_version: "2.1",
      name: "ACME Corp",
      identity_class: "organization",
      created,
      modified: created,
    },
    ...markings,
  ];
}

/** The seed indicators: IPv4, IPv6, domain, hostname, URL, email, file hashes, OR patterns, sigma, yara, revoked, expired. */
export async function seedIndicators(options: SeedOptions = {}): Promise<StixObject[]> {
  const time = options.time ?? Date.parse(SEED_TIME);
  const out: StixObject[] = [];
  for (const [index, spec] of SPECS.entries()) {
    out.push(await buildIndicator(spec, time - (SPECS.length - index) * 60_000, time));
  }
  return out;
}

/** The author, markings and seed indicators, in dependency order. */
export async function seedObjects(options: SeedOptions = {}): Promise<StixObject[]> {
  return [...seedContext(), ...await seedIndicators(options)];
}

/** Upserts the seed objects into a store (one event each); returns how many. */
export async function seedStore(store: OpenCtiStore, options: SeedOptions = {}): Promise<number> {
  const objects = await seedObjects(options);
  for (const object of objects) store.upsert(object);
  return objects.length;
}

async function buildIndicator(spec: IndicatorSpec, created: number, time: number) {
  const [fromDays, untilDays] = spec.validDays ?? [-1, 90];
  const iso = (ms: number) => new Date(ms).toISOString();
  const patternType = spec.patternType ?? "stix";
  const indicator: StixObject = {
    id: await indicatorId(spec.pattern),
    type: "indicator",
    spec_version: "2.1",
    created: iso(created),
    modified: iso(created),
    revoked: spec.revoked ?? false,
    confidence: 80,
    lang: "en",
    labels: spec.labels,
    object_marking_refs: [SEED_TLP[spec.tlp]],
    created_by_ref: SEED_AUTHOR_ID,
    external_references: [{
      source_name: "acme-intel",
      url: `https://intel.acme.example/indicators/${encodeURIComponent(spec.name)}`,
    }],
    name: spec.name,
    description: spec.description,
    indicator_types: spec.indicatorTypes,
    pattern: spec.pattern,
    pattern_type: patternType,
    pattern_version: patternType === "stix" ? "2.1" : "1.0",
    valid_from: iso(time + fromDays * DAY),
    valid_until: iso(time + untilDays * DAY),
    x_opencti_score: spec.score,
    x_opencti_detection: spec.detection ?? true,
  };
  if (spec.phase !== undefined) {
    indicator.kill_chain_phases = [{ kill_chain_name: "mitre-attack", phase_name: spec.phase }];
  }
  if (spec.mainObservableType !== undefined) {
    indicator.x_opencti_main_observable_type = spec.mainObservableType;
  }
  return indicator;
}

const WORDS = [
  "secure",
  "update",
  "login",
  "cloud",
  "office",
  "billing",
  "account",
  "verify",
  "support",
  "cdn",
  "static",
  "mail",
  "portal",
  "service",
  "files",
  "docs",
];
const TLDS = ["com", "net", "org", "info", "xyz", "top", "shop", "online", "ru", "io"];
const PHASES = [
  "initial-access",
  "execution",
  "command-and-control",
  "exfiltration",
  "delivery",
  "impact",
];
const LABELS = ["c2", "phishing", "malware", "loader", "scanner", "botnet", "stealer"];

/**
 * `n` realistic, distinct indicators from a seed (benchmarks need 20,000+): a weighted mix of
 * IPv4, IPv6, domain, hostname, URL, email, MD5/SHA-1/SHA-256 and OR patterns, a few sigma/yara,
 * ~1% revoked and ~2% expired.
 */
export async function generateIndicators(
  n: number,
  seed: number,
  options: SeedOptions = {},
): Promise<StixObject[]> {
  const random = seededRandom(seed);
  const time = options.time ?? Date.parse(SEED_TIME);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const hex = (length: number) => {
    let out = "";
    for (let i = 0; i < length; i++) out += Math.floor(random() * 16).toString(16);
    return out;
  };
  const tlps = ["clear", "green", "green", "amber", "amber", "red"] as const;
  const out: StixObject[] = [];
  for (let i = 0; i < n; i++) {
    // The index keeps every value distinct whatever the random draws.
    const a = 1 + (i >>> 16) % 223;
    const b = (i >>> 8) & 255;
    const c = i & 255;
    const domain = `${pick(WORDS)}-${pick(WORDS)}${i}.${pick(TLDS)}`;
    const roll = random();
    let name: string;
    let pattern: string;
    let patternType = "stix";
    let main: string | undefined;
    if (roll < 0.25) {
      name = `${a}.${b}.${c}.${1 + Math.floor(random() * 254)}`;
      pattern = `[ipv4-addr:value = '${name}']`;
    } else if (roll < 0.3) {
      // One 16-bit group holds the index up to 65,535; past it two groups and a 1 after them
      // (so no address equals one of the shorter form, whose fifth group is 0).
      name = i < 0x10000
        ? `2001:db8:${i.toString(16)}::${hex(4)}`
        : `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}:1::${hex(4)}`;
      pattern = `[ipv6-addr:value = '${name}']`;
    } else if (roll < 0.5) {
      name = domain;
      pattern = `[domain-name:value = '${name}']`;
    } else if (roll < 0.55) {
      name = `${pick(WORDS)}.${domain}`;
      pattern = `[hostname:value = '${name}']`;
    } else if (roll < 0.67) {
      name = `https://${domain}/${pick(WORDS)}/${hex(8)}.php?id=${i}&ref=${pick(WORDS)}`;
      pattern = `[url:value = '${name}']`;
    } else if (roll < 0.72) {
      name = `${pick(WORDS)}.${pick(WORDS)}@${domain}`;
      pattern = `[email-addr:value = '${name}']`;
    } else if (roll < 0.78) {
      name = hex(32);
      pattern = `[file:hashes.MD5 = '${name}']`;
    } else if (roll < 0.83) {
      name = hex(40);
      pattern = `[file:hashes.'SHA-1' = '${name}']`;
    } else if (roll < 0.93) {
      name = hex(64);
      pattern = `[file:hashes.'SHA-256' = '${name}']`;
    } else if (roll < 0.98) {
      name = `${domain} infrastructure`;
      pattern = `[ipv4-addr:value = '${a}.${b}.${c}.${
        1 + Math.floor(random() * 254)
      }'] OR [domain-name:value = '${domain}']`;
    } else if (roll < 0.99) {
      name = `Sigma rule ${i}`;
      patternType = "sigma";
      pattern =
        `title: Rule ${i}\nlogsource:\n  product: windows\ndetection:\n  selection:\n    Image|endswith: '\\\\${
          pick(WORDS)
        }${i}.exe'\n  condition: selection`;
    } else {
      name = `YARA rule ${i}`;
      patternType = "yara";
      main = "StixFile";
      pattern = `rule r${i} { strings: $a = { ${hex(16)} } condition: $a }`;
    }
    const expired = random() < 0.02;
    const spec: IndicatorSpec = {
      name,
      description: `Generated indicator ${i} (${patternType})`,
      pattern,
      patternType,
      labels: [pick(LABELS)],
      tlp: pick(tlps),
      score: 10 * (1 + Math.floor(random() * 10)),
      indicatorTypes: ["malicious-activity"],
      phase: pick(PHASES),
      revoked: random() < 0.01,
      ...(expired ? { validDays: [-120, -5] as [number, number] } : {}),
      ...(main === undefined ? {} : { mainObservableType: main }),
    };
    out.push(await buildIndicator(spec, time - (n - i) * 1000, time));
  }
  return out;
}
