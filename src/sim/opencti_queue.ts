/**
 * The simulated platform's RabbitMQ side, on a real broker: at each `registerConnector` it declares
 * the connector's push queue and binds it to `amqp.worker.exchange` (as the platform does), and a
 * worker takes the messages of those queues (`basic.get`, on demand or on a period) and hands each
 * to the simulator's import ({@linkcode OpenCtiGraphqlSim.importQueued}), acknowledging it after.
 *
 * Used by the AMQP integration tests and by the demo when a RabbitMQ URL is given.
 */
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import type { OpenCtiGraphqlSim } from "./opencti_graphql.ts";
import type { SimConnector } from "./opencti_graphql_types.ts";

/** A running queue side. */
export interface SimQueue {
  /** Messages handled, by connector id. */
  readonly handled: Map<string, number>;
  /** Messages dropped as unreadable, with their reason. */
  readonly dropped: string[];
  /** Imports every message waiting in the queues, then resolves (the queues are then empty). */
  drained(): Promise<void>;
  /** Stops consuming, deletes the declared queues and closes the connection. */
  close(): Promise<void>;
}

/** Options of {@linkcode startSimQueue}. */
export interface SimQueueOptions {
  /** Prefix of queue names and routing keys (keeps tests sharing a broker apart). @default "" */
  queuePrefix?: string;
  /** Host announced to connectors. @default the broker URL's host */
  announcedHost?: string;
  /** Also drain the queues on this period, in ms (the demo); tests call `drained()`. @default none */
  pollMs?: number;
}

/** Connects to the broker at `url` (`amqp://user:pass@host:port/vhost`) and serves the simulator's queues. */
export async function startSimQueue(
  graphql: OpenCtiGraphqlSim,
  url: string,
  options: SimQueueOptions = {},
): Promise<SimQueue> {
  const parsed = new URL(url);
  const vhost = parsed.pathname === "" || parsed.pathname === "/"
    ? "/"
    : decodeURIComponent(parsed.pathname.slice(1));
  graphql.queueConnection = {
    host: options.announcedHost ?? parsed.hostname,
    port: Number(parsed.port || (parsed.protocol === "amqps:" ? 5671 : 5672)),
    vhost,
    use_ssl: parsed.protocol === "amqps:",
    user: decodeURIComponent(parsed.username || "guest"),
    pass: decodeURIComponent(parsed.password || "guest"),
  };
  graphql.queuePrefix = options.queuePrefix ?? "";
  const connection = await amqp.connect(url);
  connection.on("error", () => {});
  const channel = await connection.createChannel();
  channel.on("error", () => {});
  const declared = new Set<string>();
  const handled = new Map<string, number>();
  const dropped: string[] = [];
  let draining: Promise<void> = Promise.resolve();

  const declare = async (connector: SimConnector) => {
    const names = graphql.queueNames(connector.id);
    if (declared.has(names.push)) return;
    await channel.assertExchange(names.push_exchange, "direct", { durable: true });
    await channel.assertQueue(names.push, { durable: true });
    await channel.bindQueue(names.push, names.push_exchange, names.push_routing);
    declared.add(names.push);
  };
  // The worker: take messages one by one (basic.get), import, then ack (or drop the unreadable).
  const drainOnce = async () => {
    for (const queue of declared) {
      const connectorId = [...graphql.connectors.keys()].find((id) =>
        graphql.queueNames(id).push === queue
      ) ?? "";
      for (;;) {
        const message = await channel.get(queue, { noAck: false });
        if (message === false) break;
        const error = await graphql.importQueued(
          connectorId,
          Buffer.from(message.content).toString("utf8"),
        );
        if (error === undefined) {
          handled.set(connectorId, (handled.get(connectorId) ?? 0) + 1);
          channel.ack(message);
        } else {
          dropped.push(error);
          channel.nack(message, false, false);
        }
      }
    }
  };
  const drain = () => {
    const next = draining.then(drainOnce, drainOnce);
    draining = next.catch(() => {});
    return next;
  };
  graphql.onRegister = declare;
  for (const connector of graphql.connectors.values()) await declare(connector);
  const timer = options.pollMs === undefined
    ? undefined
    : setInterval(() => void drain().catch(() => {}), options.pollMs);

  return {
    handled,
    dropped,
    drained: drain,
    async close() {
      if (timer !== undefined) clearInterval(timer);
      graphql.onRegister = undefined;
      await draining;
      for (const queue of declared) await channel.deleteQueue(queue).catch(() => {});
      declared.clear();
      await channel.close().catch(() => {});
      await connection.close().catch(() => {});
    },
  };
}
