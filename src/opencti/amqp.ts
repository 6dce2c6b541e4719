/**
 * Pushing STIX bundles to the platform's RabbitMQ, as pycti does on platforms without
 * `stixBundlePush` (before 6.3) or with `CONNECTOR_QUEUE_PROTOCOL=amqp`.
 *
 * Message (pycti's `opencti_connector_helper.py`, `_send_bundle`): a JSON object with `content`
 * (the bundle's UTF-8 JSON in base64), `applicant_id` (the connector's user), `action_sequence`
 * (1-based part number), `entities_types` (`[]`), `update` and, when the run has one, `work_id`;
 * published persistent (`delivery_mode` 2, `content_encoding` utf-8) to the `push_exchange` with
 * the `push_routing` key announced by `registerConnector`, on a channel in confirm mode. The
 * platform's worker reports one expectation per message, so the connector adds one expectation per
 * message to the work before publishing it. Parts are split as for `stixBundlePush`.
 *
 * One connection per pushed bundle (opened, used, closed, like pycti); a publish that fails
 * (connection lost, broker nack, unroutable) is retried on a new connection with backoff. The
 * broker may receive a part twice after a lost confirm: imports are upserts, so that is harmless.
 */
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import { type Now, type Sleep, systemNow, systemSleep } from "../runtime/clock.ts";
import { retry } from "../runtime/retry.ts";
import type { StixBundle } from "../stix/types.ts";
import { getLogger } from "../log.ts";
import { splitBundle } from "./bundle.ts";
import type { PushQueue } from "./connector.ts";
import { OpenCtiQueueError } from "./errors.ts";
import type { PushOptions, PushResult } from "./bundle.ts";

/** One open AMQP connection with a channel in confirm mode. */
export interface AmqpSession {
  /** Publishes one persistent, mandatory message and resolves once the broker confirmed it. */
  publish(exchange: string, routingKey: string, body: Uint8Array): Promise<void>;
  /** Closes the channel and the connection (never throws). */
  close(): Promise<void>;
}

/** Opens an {@linkcode AmqpSession} to the announced broker. */
export type AmqpConnect = (
  queue: PushQueue,
  options: { timeoutMs: number },
) => Promise<AmqpSession>;

/** Options of {@linkcode AmqpBundlePusher}. */
export interface AmqpBundlePusherOptions {
  /** Where to publish (from `registerConnector`); read at each push. */
  queue: () => PushQueue | undefined;
  /** The connector's user id (`applicant_id`). */
  applicantId: () => string | null;
  /** Adds expectations to a work (one per published message). */
  addExpectations: (workId: string, count: number, signal?: AbortSignal) => Promise<void>;
  /** Largest serialised bundle sent in one message, in bytes. @default 5000000 */
  maxBytes?: number;
  /** Attempts per message, including the first. @default 5 */
  attempts?: number;
  /** Base delay of the backoff between attempts, in ms. @default 1000 */
  baseMs?: number;
  /** Time allowed to connect, in ms. @default 30000 */
  connectTimeoutMs?: number;
  /** Opens connections. @default amqplib */
  connect?: AmqpConnect;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep between attempts. @default a real timer */
  sleep?: Sleep;
}

/** The URL of the announced broker, without credentials (for messages and logs). */
export function brokerLabel(queue: PushQueue): string {
  const vhost = queue.vhost === "/" ? "" : `/${encodeURIComponent(queue.vhost)}`;
  return `${queue.useSsl ? "amqps" : "amqp"}://${queue.host}:${queue.port}${vhost}`;
}

/** Builds pycti's queue message for one bundle part. */
export function queueMessage(
  part: StixBundle,
  fields: { applicantId: string | null; sequence: number; workId?: string; update?: boolean },
): Record<string, unknown> {
  const json = JSON.stringify(part);
  const message: Record<string, unknown> = {
    applicant_id: fields.applicantId,
    action_sequence: fields.sequence,
    entities_types: [],
    content: Buffer.from(json, "utf8").toString("base64"),
    update: fields.update ?? true,
  };
  if (fields.workId !== undefined) message["work_id"] = fields.workId;
  return message;
}

/** Sends bundles through the platform's RabbitMQ. */
export class AmqpBundlePusher {
  readonly #options: AmqpBundlePusherOptions;
  readonly #maxBytes: number;
  readonly #connect: AmqpConnect;
  readonly #now: Now;
  readonly #sleep: Sleep;
  readonly #logger = getLogger("opencti", "amqp");

  /** Binds the pusher to one connector's announced queue. */
  constructor(options: AmqpBundlePusherOptions) {
    this.#options = options;
    this.#maxBytes = options.maxBytes ?? 5_000_000;
    this.#connect = options.connect ?? amqplibConnect;
    this.#now = options.now ?? systemNow;
    this.#sleep = options.sleep ?? systemSleep;
  }

  /** Publishes a bundle (split when larger than `maxBytes`), each part confirmed by the broker. */
  async pushBundle(bundle: StixBundle, options: PushOptions = {}): Promise<PushResult> {
    if (bundle.objects.length === 0) return { parts: 0, objects: 0 };
    const queue = this.#options.queue();
    if (!queue) {
      throw new OpenCtiQueueError(
        "OpenCTI announced no RabbitMQ push queue in registerConnector; this platform needs one " +
          "for bundles (no stixBundlePush): check the platform's rabbitmq settings, or upgrade " +
          "OpenCTI to 6.3 or later and set CONNECTOR_QUEUE_PROTOCOL=api",
      );
    }
    const parts = splitBundle(bundle, this.#maxBytes);
    const signal = options.signal;
    let session: AmqpSession | undefined;
    const drop = async () => {
      const open = session;
      session = undefined;
      await open?.close();
    };
    try {
      for (const [index, part] of parts.entries()) {
        if (options.workId !== undefined) {
          await this.#options.addExpectations(options.workId, 1, signal);
        }
        const body = new TextEncoder().encode(JSON.stringify(queueMessage(part, {
          applicantId: this.#options.applicantId(),
          sequence: index + 1,
          ...(options.workId !== undefined ? { workId: options.workId } : {}),
        })));
        const where = `bundle part ${index + 1}/${parts.length} (${part.objects.length} objects)`;
        await retry(async () => {
          try {
            session ??= await this.#connect(queue, {
              timeoutMs: this.#options.connectTimeoutMs ?? 30_000,
            });
            await session.publish(queue.exchange, queue.routingKey, body);
          } catch (cause) {
            await drop();
            throw new OpenCtiQueueError(
              `Cannot publish ${where} to RabbitMQ ${brokerLabel(queue)} (announced by OpenCTI ` +
                `in registerConnector): ${messageOf(cause)}. Check that this host can reach the ` +
                `platform's RabbitMQ with the announced credentials, or use OpenCTI 6.3 or later ` +
                `with CONNECTOR_QUEUE_PROTOCOL=api`,
              { cause },
            );
          }
        }, {
          attempts: this.#options.attempts ?? 5,
          baseMs: this.#options.baseMs ?? 1000,
          shouldRetry: (error) => error instanceof OpenCtiQueueError,
          onRetry: ({ attempt, delayMs, error }) =>
            this.#logger.warn(
              "RabbitMQ publish failed (attempt {attempt}), retrying in {delayMs} ms: {error}",
              {
                attempt,
                delayMs,
                error: messageOf(error),
              },
            ),
          now: this.#now,
          sleep: this.#sleep,
          ...(signal ? { signal } : {}),
        });
      }
    } finally {
      await drop();
    }
    this.#logger.info("Queued a bundle of {objects} objects in {parts} message(s) on RabbitMQ", {
      objects: bundle.objects.length,
      parts: parts.length,
      workId: options.workId,
    });
    return { parts: parts.length, objects: bundle.objects.length };
  }
}

function messageOf(error: unknown): string {
  if (error instanceof OpenCtiQueueError && error.cause !== undefined) {
    return messageOf(error.cause);
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** The default {@linkcode AmqpConnect}: amqplib, a confirm channel, mandatory persistent publishes. */
export const amqplibConnect: AmqpConnect = async (queue, options) => {
  const connection = await amqp.connect({
    protocol: queue.useSsl ? "amqps" : "amqp",
    hostname: queue.host,
    port: queue.port,
    username: queue.user,
    password: queue.pass,
    vhost: queue.vhost,
    heartbeat: 10,
  }, { timeout: options.timeoutMs });
  // A lost connection must not crash the process: the failing publish reports it.
  connection.on("error", () => {});
  let channel: amqp.ConfirmChannel;
  try {
    channel = await connection.createConfirmChannel();
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
  channel.on("error", () => {});
  const returned = new Set<string>();
  channel.on("return", (message: amqp.Message) => {
    const id = message.properties.messageId;
    if (typeof id === "string") returned.add(id);
  });
  let counter = 0;
  return {
    publish(exchange, routingKey, body) {
      const messageId = `m${++counter}`;
      return new Promise<void>((resolve, reject) => {
        try {
          channel.publish(exchange, routingKey, Buffer.from(body), {
            persistent: true,
            contentEncoding: "utf-8",
            contentType: "application/json",
            mandatory: true,
            messageId,
          }, (error: unknown) => {
            if (error) {
              reject(new Error("the broker did not confirm the message (nack)", { cause: error }));
            } else if (returned.delete(messageId)) {
              reject(
                new Error(
                  `no queue is bound to exchange "${exchange}" with routing key "${routingKey}" ` +
                    "(the platform declares it at registration)",
                ),
              );
            } else resolve();
          });
        } catch (error) {
          reject(error);
        }
      });
    },
    async close() {
      await channel.close().catch(() => {});
      await connection.close().catch(() => {});
    },
  };
};
