/** Helpers shared by the Microsoft tests: identity constants, clocks, simulator setups. */
import assert from "node:assert/strict";
import { TokenProvider } from "../../src/microsoft/token_provider.ts";
import type { Now, Sleep } from "../../src/runtime/clock.ts";
import type { SyncTarget } from "../../src/microsoft/target.ts";
import { type EntraSim, startEntraSim } from "../../src/sim/entra.ts";
import type { RunningServer, VerifyToken } from "../../src/sim/ms_common.ts";
import { FakeClock } from "../runtime/fake_clock.ts";
import {
  FakeTokens,
  fakeVerifier,
  type FakeVerifierOptions,
  indicatorId,
  makeIndicator,
} from "../fixtures/microsoft/sentinel/make.ts";
import { createTestCertificate, type TestCertificate } from "./cert_helper.ts";

/** Tenant id of the identity tests. */
export const TENANT = "11111111-2222-3333-4444-555555555555";
/** Client (application) id of the identity tests. */
export const CLIENT = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
/** Client secret of the identity tests. */
export const SECRET = "Qx8Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789";
/** Microsoft Graph's resource URL. */
export const GRAPH = "https://graph.microsoft.com";

let certificate: Promise<TestCertificate> | undefined;

/** One self-signed test certificate, made once and shared (making one is slow). */
export function testCertificate(): Promise<TestCertificate> {
  certificate ??= createTestCertificate();
  return certificate;
}

/** A clock that moves only with `advance`. */
export function fakeClock(start = Date.parse("2026-03-01T00:00:00Z")): {
  now: () => number;
  advance: (ms: number) => void;
} {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** An Entra simulator with one app registered with a secret, and a TokenProvider for it. */
export interface EntraApp extends AsyncDisposable {
  /** The running simulator. */
  entra: EntraSim;
  /** Tenant of the app. */
  tenantId: string;
  /** Client id of the app. */
  clientId: string;
  /** A provider of real (simulator-signed) tokens for the app. */
  tokens: TokenProvider;
}

/** Starts the Entra simulator with one app holding `roles` per resource; dispose to stop it. */
export async function entraApp(roles?: Record<string, string[]>): Promise<EntraApp> {
  const entra = await startEntraSim();
  const tenantId = "11111111-2222-4333-8444-555555555555";
  const clientId = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  entra.registerApp({ tenantId, clientId, secret: "s3cret-value", ...(roles ? { roles } : {}) });
  const tokens = new TokenProvider({
    authority: entra.url,
    tenantId,
    clientId,
    credential: { kind: "secret", secret: "s3cret-value" },
  });
  return { entra, tenantId, clientId, tokens, [Symbol.asyncDispose]: () => entra.close() };
}

/** A target client against its simulator, with fake tokens and a fake clock. */
export interface TargetSetup<S, T, O> extends AsyncDisposable {
  /** The fake clock of sim and target. */
  clock: FakeClock;
  /** The running simulator. */
  sim: S;
  /** The token source of the target. */
  tokens: FakeTokens;
  /** A target built with the setup's options. */
  target: T;
  /** Builds another target with extra options. */
  make(options?: Partial<O>): T;
}

/** What a simulator is started with. */
export interface SimCommon {
  /** Accepts the {@linkcode FakeTokens}. */
  verify: VerifyToken;
  /** The fake clock. */
  now: Now;
}

/** What a target is built with. */
export interface TargetCommon {
  /** The fake tokens. */
  tokens: FakeTokens;
  /** The fake clock. */
  now: Now;
  /** The fake clock's sleep. */
  sleep: Sleep;
  /** A fixed jitter. */
  random: () => number;
}

/** Starts a simulator and builds targets against it, sharing one fake clock and fake tokens. */
export function targetSetup<S extends RunningServer, T, O>(
  startSim: (common: SimCommon) => S,
  makeTarget: (sim: S, common: TargetCommon, extra: Partial<O>) => T,
  verifier?: FakeVerifierOptions,
): TargetSetup<S, T, O> {
  const clock = new FakeClock();
  const sim = startSim({ verify: fakeVerifier(verifier), now: clock.now });
  const tokens = new FakeTokens();
  const common = { tokens, now: clock.now, sleep: clock.sleep, random: () => 0.5 };
  const make = (extra: Partial<O> = {}) => makeTarget(sim, common, extra);
  return {
    clock,
    sim,
    tokens,
    target: make(),
    make,
    [Symbol.asyncDispose]: () => sim.close(),
  };
}

/** Asserts that upsert() and remove() reject with the abort reason and send nothing once aborted. */
export async function assertAbortSendsNothing(
  target: SyncTarget,
  sim: { requests: unknown[] },
): Promise<void> {
  const controller = new AbortController();
  controller.abort(new Error("shutting down"));
  await assert.rejects(target.upsert([makeIndicator(1)], controller.signal), /shutting down/);
  await assert.rejects(
    target.remove([{ id: indicatorId(1) }], controller.signal),
    /shutting down/,
  );
  assert.equal(sim.requests.length, 0);
}
