/**
 * A generator-backed OpenCTI live stream for the memory and latency scenarios: frames are made on
 * demand from a small pool of realistic events, so a million events need no million-object store.
 * Frame `i` has id `<t0 + i>-0`; a reconnect with `Last-Event-ID` resumes after it, as the
 * platform does (`reference/opencti.md` §3).
 *
 * @module
 */

/** One event of the pool: the SSE name and the `data:` JSON text. */
export interface PoolEvent {
  /** SSE event name. */
  event: string;
  /** The envelope JSON text. */
  data: string;
}

/** Options of {@linkcode startFrameServer}. */
export interface FrameServerOptions {
  /** Events cycled through to make the frames. */
  pool: readonly PoolEvent[];
  /** Data frames to serve in all (then heartbeats only). */
  total: number;
  /** Millisecond part of the first frame id. @default 1718003600000 */
  t0?: number;
  /** Gap between data frames in ms; 0 sends as fast as the reader takes them. @default 0 */
  intervalMs?: number;
  /** Heartbeat period once every frame was sent (and while pacing), in ms. @default 1000 */
  heartbeatMs?: number;
  /** Target size of one written chunk when not pacing, in bytes. @default 65536 */
  chunkBytes?: number;
  /** Called when frame `index` is written. @default none */
  onFrame?: (index: number, id: string, at: number) => void;
  /** Rewrites the data of frame `index` (e.g. to make pool copies distinct). @default none */
  variant?: (data: string, index: number) => string;
  /** The wait between heartbeats and paced frames. @default a real timer */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A running frame server. */
export interface FrameServer {
  /** Base URL (use as the stream's `OPENCTI_URL`). */
  url: string;
  /** Id of frame `index`. */
  idOf(index: number): string;
  /** Frames written so far (over all connections). */
  written(): number;
  /** Stops the server. */
  close(): Promise<void>;
}

/** The frame source without a server: `handle` answers one stream request. */
export interface FrameSource {
  /** Answers a stream request (resuming after `Last-Event-ID`). */
  handle(request: Request): Response;
  /** Id of frame `index`. */
  idOf(index: number): string;
  /** Frames written so far (over all connections). */
  written(): number;
  /** Ends every open stream. */
  abortAll(): void;
}

/** Starts the server on 127.0.0.1 with a free port. */
export function startFrameServer(options: FrameServerOptions): FrameServer {
  const source = createFrameSource(options);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => source.handle(request),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    idOf: source.idOf,
    written: source.written,
    async close() {
      source.abortAll();
      await server.shutdown();
    },
  };
}

/** The frames and their request handler, for in-process use or {@linkcode startFrameServer}. */
export function createFrameSource(options: FrameServerOptions): FrameSource {
  const t0 = options.t0 ?? 1_718_003_600_000;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const intervalMs = options.intervalMs ?? 0;
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  const encoder = new TextEncoder();
  const idOf = (index: number) => `${t0 + index}-0`;
  const controllers = new Set<AbortController>();
  let written = 0;

  const frameOf = (index: number): string => {
    const event = options.pool[index % options.pool.length] as PoolEvent;
    const data = options.variant ? options.variant(event.data, index) : event.data;
    return `id: ${idOf(index)}\nevent: ${event.event}\ndata: ${data}\n\n`;
  };
  const heartbeat = (index: number): string => {
    const id = index < 0 ? `${t0 - 1}-0` : idOf(index);
    return `id: ${id}\nevent: heartbeat\ndata: "${new Date(t0 + index).toISOString()}"\n\n`;
  };

  const handle = (request: Request): Response => {
    const last = request.headers.get("last-event-id");
    const match = last === null ? null : /^(\d+)-\d+$/.exec(last);
    let next = match ? Math.max(0, Number(match[1]) - t0 + 1) : 0;
    const abort = new AbortController();
    controllers.add(abort);
    const wait = (ms: number) =>
      options.sleep
        ? options.sleep(ms, abort.signal).catch(() => {})
        : new Promise<void>((resolve) => {
          const timer = setTimeout(done, ms);
          function done() {
            abort.signal.removeEventListener("abort", done);
            clearTimeout(timer);
            resolve();
          }
          abort.signal.addEventListener("abort", done, { once: true });
        });
    let sentConnected = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (abort.signal.aborted) {
          controller.close();
          return;
        }
        if (!sentConnected) {
          sentConnected = true;
          controller.enqueue(encoder.encode(
            `event: connected\ndata: ${
              JSON.stringify({ lastEventId: idOf(options.total - 1), streamSize: options.total })
            }\n\n`,
          ));
          return;
        }
        if (next >= options.total) {
          await wait(heartbeatMs);
          if (!abort.signal.aborted) controller.enqueue(encoder.encode(heartbeat(next - 1)));
          return;
        }
        if (intervalMs > 0) {
          await wait(intervalMs);
          if (abort.signal.aborted) return;
          const index = next++;
          controller.enqueue(encoder.encode(frameOf(index)));
          written++;
          options.onFrame?.(index, idOf(index), performance.now());
          return;
        }
        const parts: string[] = [];
        let size = 0;
        while (size < chunkBytes && next < options.total) {
          const index = next++;
          const text = frameOf(index);
          parts.push(text);
          size += text.length;
          written++;
          options.onFrame?.(index, idOf(index), performance.now());
        }
        controller.enqueue(encoder.encode(parts.join("")));
      },
      cancel() {
        abort.abort();
      },
    }, { highWaterMark: 0 });
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  };
  return {
    handle,
    idOf,
    written: () => written,
    abortAll() {
      for (const controller of controllers) controller.abort();
    },
  };
}
