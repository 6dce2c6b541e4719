/** The AMQP pusher's failure handling and the version refusals, with an injected AMQP connection. */
import assert from "node:assert/strict";
import { AmqpBundlePusher, type AmqpConnect, brokerLabel } from "../../src/opencti/amqp.ts";
import { ConnectorLifecycle, type PushQueue } from "../../src/opencti/connector.ts";
import { OpenCtiQueueError, OpenCtiVersionError } from "../../src/opencti/errors.ts";
import { BundleTransport } from "../../src/opencti/transport.ts";
import { Works } from "../../src/opencti/works.ts";
import type { StixBundle } from "../../src/stix/types.ts";
import { CONNECTOR_ID, withSim } from "./helpers.ts";
import { QUEUE_THRESHOLD_MB } from "../fixtures/settings_defaults.ts";

const QUEUE: PushQueue = {
  host: "rabbitmq",
  port: 5672,
  vhost: "/",
  useSsl: false,
  user: "opencti",
  pass: "changeme",
  queue: `push_${CONNECTOR_ID}`,
  exchange: "amqp.worker.exchange",
  routingKey: `push_routing_${CONNECTOR_ID}`,
};

const BUNDLE: StixBundle = {
  type: "bundle",
  id: "bundle--6f5a9d0e-5a7e-4d0c-9d43-0f5ad1a2e111",
  objects: [
    { type: "ipv4-addr", id: "ipv4-addr--cbd67181-b9f8-595b-8bc3-3971e34fa1cc", value: "1.1.1.1" },
  ],
};

/** A fake broker: records publishes, fails as told. */
function fakeBroker(plan: { connectFailures?: number; publishFailures?: number } = {}) {
  const published: { exchange: string; routingKey: string; body: string }[] = [];
  let connects = 0;
  let closes = 0;
  let connectFailures = plan.connectFailures ?? 0;
  let publishFailures = plan.publishFailures ?? 0;
  const connect: AmqpConnect = () => {
    connects += 1;
    if (connectFailures > 0) {
      connectFailures -= 1;
      return Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:5672"));
    }
    return Promise.resolve({
      publish(exchange, routingKey, body) {
        if (publishFailures > 0) {
          publishFailures -= 1;
          return Promise.reject(new Error("the broker did not confirm the message (nack)"));
        }
        published.push({ exchange, routingKey, body: new TextDecoder().decode(body) });
        return Promise.resolve();
      },
      close() {
        closes += 1;
        return Promise.resolve();
      },
    });
  };
  return {
    connect,
    published,
    get connects() {
      return connects;
    },
    get closes() {
      return closes;
    },
  };
}

function pusher(broker: ReturnType<typeof fakeBroker>, sleeps: number[], queue = QUEUE) {
  const expectations: [string, number][] = [];
  return {
    expectations,
    pusher: new AmqpBundlePusher({
      queue: () => queue,
      applicantId: () => "88ec0c6a-13ce-5e39-b486-354fe4a7084f",
      addExpectations: (workId, count) => {
        expectations.push([workId, count]);
        return Promise.resolve();
      },
      connect: broker.connect,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    }),
  };
}

Deno.test("AmqpBundlePusher reconnects after a refused connection and a nack, and publishes once confirmed", async () => {
  const broker = fakeBroker({ connectFailures: 2, publishFailures: 1 });
  const sleeps: number[] = [];
  const { pusher: p, expectations } = pusher(broker, sleeps);
  const result = await p.pushBundle(BUNDLE, { workId: "work_1" });
  assert.deepEqual(result, { parts: 1, objects: 1 });
  assert.equal(broker.published.length, 1);
  assert.equal(broker.published[0]?.exchange, "amqp.worker.exchange");
  assert.equal(broker.published[0]?.routingKey, `push_routing_${CONNECTOR_ID}`);
  assert.equal(broker.connects, 4, "two refused connects, one nacked session, one good session");
  assert.equal(broker.closes, 2, "the nacked session and the good one are closed");
  assert.equal(sleeps.length, 3, "three retries, each after a backoff");
  assert.deepEqual(expectations, [["work_1", 1]], "one expectation per message, added once");
});

Deno.test("AmqpBundlePusher gives up with an OpenCtiQueueError naming the broker and the way out", async () => {
  const broker = fakeBroker({ connectFailures: 99 });
  const { pusher: p } = pusher(broker, []);
  await assert.rejects(
    () => p.pushBundle(BUNDLE),
    (error: unknown) =>
      error instanceof OpenCtiQueueError &&
      error.message.includes(
        "Cannot publish bundle part 1/1 (1 objects) to RabbitMQ amqp://rabbitmq:5672",
      ) &&
      error.message.includes("ECONNREFUSED") &&
      error.message.includes("CONNECTOR_QUEUE_PROTOCOL=api") &&
      !error.message.includes("changeme"),
  );
  assert.equal(broker.connects, 5);
  assert.equal(
    brokerLabel({ ...QUEUE, vhost: "octi", useSsl: true }),
    "amqps://rabbitmq:5672/octi",
  );
});

Deno.test("AmqpBundlePusher refuses to push when the platform announced no queue", async () => {
  const broker = fakeBroker();
  const p = new AmqpBundlePusher({
    queue: () => undefined,
    applicantId: () => null,
    addExpectations: () => Promise.resolve(),
    connect: broker.connect,
  });
  await assert.rejects(() => p.pushBundle(BUNDLE), OpenCtiQueueError);
  assert.equal(broker.connects, 0);
});

Deno.test("BundleTransport refuses CONNECTOR_QUEUE_PROTOCOL=api on OpenCTI 6.2 with the version and the fix", async () => {
  await withSim(async ({ client }) => {
    const lifecycle = new ConnectorLifecycle(client, {
      queueThresholdMb: QUEUE_THRESHOLD_MB,
      id: CONNECTOR_ID,
      name: "Tanium Threat Response Incidents",
      type: "EXTERNAL_IMPORT",
    });
    await lifecycle.register();
    const transport = new BundleTransport(client, {
      connectorId: CONNECTOR_ID,
      lifecycle,
      works: new Works(client, { connectorId: CONNECTOR_ID, connectorName: "x" }),
      protocol: "api",
      amqpConnect: fakeBroker().connect,
    });
    await assert.rejects(
      () => transport.pushBundle(BUNDLE),
      (error: unknown) =>
        error instanceof OpenCtiVersionError &&
        /OpenCTI 6\.2\.12 has no stixBundlePush .*CONNECTOR_QUEUE_PROTOCOL/.test(error.message),
    );
    assert.equal(lifecycle.pushQueue?.routingKey, `push_routing_${CONNECTOR_ID}`);
    assert.equal(lifecycle.pushQueue?.host, "rabbitmq");
  }, { version: "6.2.12" });
});

Deno.test("registration refuses a platform older than the connector's minimum, naming both", async () => {
  await withSim(async ({ client, sim }) => {
    const lifecycle = new ConnectorLifecycle(client, {
      queueThresholdMb: QUEUE_THRESHOLD_MB,
      id: CONNECTOR_ID,
      name: "Microsoft Sentinel",
      type: "STREAM",
      minimumVersion: "5.10.3",
      minimumFor: "sentinel",
    });
    await assert.rejects(
      () => lifecycle.register(),
      (error: unknown) =>
        error instanceof OpenCtiVersionError &&
        /runs 5\.9\.6; this program needs 5\.10\.3 or later \(sentinel\)/.test(error.message),
    );
    assert.equal(sim.control.graphql.connectors.size, 0, "nothing registered");
  }, { version: "5.9.6" });
});

Deno.test("registration on 5.x omits the input fields its schema lacks", async () => {
  await withSim(async ({ client, sim }) => {
    const lifecycle = new ConnectorLifecycle(client, {
      queueThresholdMb: QUEUE_THRESHOLD_MB,
      id: CONNECTOR_ID,
      name: "Tanium Threat Response Incidents",
      type: "EXTERNAL_IMPORT",
    });
    await lifecycle.register();
    const call = sim.control.graphql.calls.find((c) => c.fields[0] === "registerConnector");
    const input = call?.variables.input as Record<string, unknown>;
    assert.equal("listen_callback_uri" in input, false);
    assert.equal("playbook_compatible" in input, false);
    assert.equal(call?.status, 200);
  }, { version: "5.10.3" });
});
