/**
 * tanium-incidents on OpenCTI platforms without `stixBundlePush` (5.x, 6.0-6.2): bundles go through
 * a real RabbitMQ (`RABBITMQ_TEST_URL`, started by `.ci/run`), and the simulator's queue side plays
 * the platform's worker (declares the push queue at registration, imports each message, reports
 * its expectation).
 */
import assert from "node:assert/strict";
import { parseState } from "../../src/opencti/connector.ts";
import { type OpenCtiSim, startOpenCtiSim } from "../../src/sim/opencti.ts";
import { type SimQueue, startSimQueue } from "../../src/sim/opencti_queue.ts";
import { startTaniumSim, type TaniumSim } from "../../src/sim/tanium.ts";
import {
  generateAlerts,
  REFERENCE_ALERT,
  SEED_INTELS,
  seedOpenCtiForTanium,
  type SimAlert,
} from "../../src/sim/tanium_seed.ts";
import type {
  TaniumIncidentsConnector,
  TaniumIncidentsOptions,
} from "../../src/tanium/connector.ts";
import {
  CONNECTOR_ID,
  connectorFactory,
  CONSOLE,
  instantSleep,
  openctiClientOf,
  taniumClientOf,
  VECTORS,
} from "./helpers.ts";

const BROKER = Deno.env.get("RABBITMQ_TEST_URL");
if (!BROKER) {
  if (Deno.env.get("CI")) {
    throw new Error("RABBITMQ_TEST_URL is not set: .ci/run must start RabbitMQ for these tests");
  }
  console.warn(
    "tests/tanium/amqp_test.ts: RABBITMQ_TEST_URL is not set, so the AMQP integration tests are " +
      "skipped (source .ci/rabbitmq.sh and run rabbitmq_start to get one)",
  );
}

interface AmqpWorld {
  opencti: OpenCtiSim;
  tanium: TaniumSim;
  queue: SimQueue;
  connector(options?: Partial<TaniumIncidentsOptions>): TaniumIncidentsConnector;
  close(): Promise<void>;
}

async function amqpWorld(version: string, alerts: SimAlert[]): Promise<AmqpWorld> {
  const tanium = startTaniumSim({
    sleep: instantSleep,
    alerts,
    intels: SEED_INTELS.map((i) => structuredClone(i)),
  });
  const opencti = await startOpenCtiSim({ version });
  await seedOpenCtiForTanium(opencti.store, { consoleUrl: CONSOLE });
  const queue = await startSimQueue(opencti.control.graphql, BROKER!, {
    queuePrefix: `t${crypto.randomUUID().slice(0, 8)}`,
  });
  return {
    opencti,
    tanium,
    queue,
    connector: connectorFactory(taniumClientOf(tanium), () => openctiClientOf(opencti)),
    async close() {
      await queue.close();
      await tanium.close();
      await opencti.close();
    },
  };
}

/** Incident external ids (Tanium alert guids) per imported message. */
function importedGuids(w: AmqpWorld): string[] {
  return w.opencti.control.graphql.bundles.flatMap((b) =>
    b.bundle.objects.filter((o) => o.type === "incident").map((o) =>
      (o.external_references as { external_id: string }[])[0]!.external_id
    )
  );
}

for (const version of ["5.12.33", "6.2.5"]) {
  Deno.test({
    name:
      `tanium-incidents imports the reference alerts on OpenCTI ${version} through RabbitMQ exactly once across runs and a restart, works completed`,
    ignore: !BROKER,
    async fn() {
      const alerts = [structuredClone(REFERENCE_ALERT), ...generateAlerts(149, { seed: 11 })];
      const w = await amqpWorld(version, alerts.slice(0, 100));
      try {
        const graphql = w.opencti.control.graphql;
        const first = w.connector({ pageSize: 40, maxPagesPerRun: 2 });
        assert.equal(await first.runOnce(), true);
        await w.queue.drained();
        assert.equal(await first.runOnce(), true);
        await w.queue.drained();
        // More alerts arrive, then the process restarts.
        w.tanium.control.addAlerts(alerts.slice(100));
        const second = w.connector({ pageSize: 40, maxPagesPerRun: 2 });
        for (let run = 0; run < 3; run++) {
          assert.equal(await second.runOnce(), true);
          await w.queue.drained();
        }

        // No stixBundlePush was even tried: the schema of this version has none.
        assert.equal(graphql.calls.filter((c) => c.fields.includes("stixBundlePush")).length, 0);
        assert.ok(graphql.bundles.length > 0);
        assert.ok(graphql.bundles.every((b) => b.transport === "amqp"));
        assert.deepEqual(w.queue.dropped, []);

        // Exactly once: every non-suppressed alert gave one incident, none twice.
        const guids = importedGuids(w);
        const expected = alerts.filter((a) => a.state !== "suppressed").map((a) => String(a.guid));
        assert.equal(new Set(guids).size, guids.length, "no alert is pushed twice");
        assert.deepEqual(expected.filter((g) => !guids.includes(g)), [], "no alert is lost");

        // The reference alert's incident reached the store with its platform-form id.
        assert.ok(w.opencti.store.get(VECTORS.incident));

        // Works: one per run, each completed with every queued message reported.
        const works = [...graphql.works.values()];
        assert.equal(works.length, 5);
        for (const work of works) {
          assert.equal(work.status, "complete", `${work.id} is complete`);
          assert.equal(work.import_processed_number, work.import_expected_number);
          assert.deepEqual(work.errors, []);
        }
        assert.equal(
          works.reduce((n, w) => n + w.import_expected_number, 0),
          graphql.bundles.length,
          "one expectation per queued message",
        );

        // The state holds the newest alert.
        const state = parseState(graphql.connectors.get(CONNECTOR_ID)?.connector_state);
        assert.equal(state.last_alert_date, alerts.at(-1)!.alertedAt);
      } finally {
        await w.close();
      }
    },
  });
}

Deno.test({
  name:
    "tanium-incidents sends pycti's queue message: base64 bundle, work_id, applicant_id, action_sequence, entities_types, update",
  ignore: !BROKER,
  async fn() {
    const w = await amqpWorld("5.12.33", [structuredClone(REFERENCE_ALERT)]);
    try {
      const graphql = w.opencti.control.graphql;
      // Read the raw message instead of letting the worker import it.
      const bodies: string[] = [];
      const importQueued = graphql.importQueued.bind(graphql);
      graphql.importQueued = (connectorId: string, body: string) => {
        bodies.push(body);
        return importQueued(connectorId, body);
      };
      assert.equal(await w.connector().runOnce(), true);
      await w.queue.drained();
      assert.equal(bodies.length, 1);
      const message = JSON.parse(bodies[0]!) as Record<string, unknown>;
      const work = [...graphql.works.values()][0]!;
      assert.deepEqual(Object.keys(message).sort(), [
        "action_sequence",
        "applicant_id",
        "content",
        "entities_types",
        "update",
        "work_id",
      ]);
      assert.equal(message.work_id, work.id);
      assert.equal(message.applicant_id, graphql.connectors.get(CONNECTOR_ID)?.connector_user_id);
      assert.equal(message.action_sequence, 1);
      assert.deepEqual(message.entities_types, []);
      assert.equal(message.update, true);
      const bundle = JSON.parse(
        new TextDecoder().decode(
          Uint8Array.from(atob(String(message.content)), (c) => c.charCodeAt(0)),
        ),
      ) as { type: string; objects: { id: string }[] };
      assert.equal(bundle.type, "bundle");
      assert.ok(bundle.objects.some((o) => o.id === VECTORS.incident));
      assert.equal(work.status, "complete");
    } finally {
      await w.close();
    }
  },
});

Deno.test({
  name:
    "tanium-incidents on OpenCTI 6.8 pushes through RabbitMQ when CONNECTOR_QUEUE_PROTOCOL=amqp",
  ignore: !BROKER,
  async fn() {
    const w = await amqpWorld("6.8.10", [structuredClone(REFERENCE_ALERT)]);
    try {
      const graphql = w.opencti.control.graphql;
      assert.equal(await w.connector({ queueProtocol: "amqp" }).runOnce(), true);
      await w.queue.drained();
      assert.equal(graphql.calls.filter((c) => c.fields.includes("stixBundlePush")).length, 0);
      assert.equal(graphql.bundles.length, 1);
      assert.equal(graphql.bundles[0]?.transport, "amqp");
      assert.equal([...graphql.works.values()][0]?.status, "complete");
    } finally {
      await w.close();
    }
  },
});

Deno.test({
  name:
    "tanium-incidents on OpenCTI 5.11 imports incidents through RabbitMQ without linking intel sightings (no FilterGroup before 5.12)",
  ignore: !BROKER,
  async fn() {
    const w = await amqpWorld("5.11.17", [structuredClone(REFERENCE_ALERT)]);
    try {
      const graphql = w.opencti.control.graphql;
      assert.equal(await w.connector().runOnce(), true);
      await w.queue.drained();
      assert.deepEqual(graphql.calls.filter((c) => c.status !== 200), [], "no call refused");
      assert.equal(graphql.calls.filter((c) => c.fields.includes("externalReferences")).length, 0);
      const objects = graphql.bundles.flatMap((b) => b.bundle.objects);
      assert.ok(objects.some((o) => o.id === VECTORS.incident));
      assert.equal(objects.filter((o) => o.type === "sighting").length, 0);
      assert.equal([...graphql.works.values()][0]?.status, "complete");
    } finally {
      await w.close();
    }
  },
});
