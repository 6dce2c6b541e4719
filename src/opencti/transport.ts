/**
 * Picks how bundles reach the platform, from its version and `CONNECTOR_QUEUE_PROTOCOL`:
 * `stixBundlePush` over HTTP from 6.3, the platform's RabbitMQ below (or when asked).
 */
import type { Now, Sleep } from "../runtime/clock.ts";
import type { StixBundle } from "../stix/types.ts";
import { getLogger } from "../log.ts";
import { AmqpBundlePusher, type AmqpConnect } from "./amqp.ts";
import { BundlePusher, type PushOptions, type PushResult } from "./bundle.ts";
import type { ConnectorLifecycle } from "./connector.ts";
import { OpenCtiVersionError } from "./errors.ts";
import type { OpenCtiClient } from "./graphql.ts";
import { type PushProtocol, pushProtocolFor, type QueueProtocolSetting } from "./version.ts";
import type { Works } from "./works.ts";

/** Options of {@linkcode BundleTransport}. */
export interface BundleTransportOptions {
  /** The registered connector's id. */
  connectorId: string;
  /** The connector's lifecycle (the announced queue and user come from its registration). */
  lifecycle: ConnectorLifecycle;
  /** The connector's works (AMQP adds one expectation per message). */
  works: Works;
  /** `CONNECTOR_QUEUE_PROTOCOL`. @default "auto" */
  protocol?: QueueProtocolSetting;
  /** Largest serialised bundle sent at once, in bytes. @default 5000000 */
  maxBytes?: number;
  /** Opens AMQP connections. @default amqplib */
  amqpConnect?: AmqpConnect;
  /** The clock. @default Date.now */
  now?: Now;
  /** The sleep between AMQP attempts. @default a real timer */
  sleep?: Sleep;
}

/** Sends bundles by the transport the platform supports. */
export class BundleTransport {
  readonly #client: OpenCtiClient;
  readonly #setting: QueueProtocolSetting;
  readonly #api: BundlePusher;
  readonly #amqp: AmqpBundlePusher;
  readonly #logger = getLogger("opencti", "transport");
  #announced: string | undefined;

  /** Builds both pushers; the choice is made at each push from the platform's version. */
  constructor(client: OpenCtiClient, options: BundleTransportOptions) {
    this.#client = client;
    this.#setting = options.protocol ?? "auto";
    const maxBytes = options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {};
    this.#api = new BundlePusher(client, { connectorId: options.connectorId, ...maxBytes });
    const lifecycle = options.lifecycle;
    this.#amqp = new AmqpBundlePusher({
      queue: () => lifecycle.pushQueue,
      applicantId: () => lifecycle.userId,
      addExpectations: (workId, count, signal) =>
        options.works.addExpectations(workId, count, signal),
      ...maxBytes,
      ...(options.amqpConnect ? { connect: options.amqpConnect } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
    });
  }

  /** The transport used on the connected platform; throws {@linkcode OpenCtiVersionError} when none can work. */
  async protocol(signal?: AbortSignal): Promise<PushProtocol> {
    const version = await this.#client.ensureVersion(signal);
    const choice = pushProtocolFor(version, this.#setting);
    if ("refused" in choice) throw new OpenCtiVersionError(choice.refused);
    if (this.#announced !== `${version}/${choice.protocol}`) {
      this.#announced = `${version}/${choice.protocol}`;
      this.#logger.info("OpenCTI {version}: bundles go {how}", {
        version,
        how: choice.protocol === "api"
          ? "over HTTP (stixBundlePush)"
          : "to the platform's RabbitMQ (AMQP)",
      });
    }
    return choice.protocol;
  }

  /** Pushes a bundle with the platform's transport. */
  async pushBundle(bundle: StixBundle, options: PushOptions = {}): Promise<PushResult> {
    const protocol = await this.protocol(options.signal);
    return protocol === "api"
      ? await this.#api.pushBundle(bundle, options)
      : await this.#amqp.pushBundle(bundle, options);
  }
}
