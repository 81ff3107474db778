/**
 * Relays an upstream SSE stream to the client: one JavaScript read loop over the upstream body,
 * writing into the runtime's native pipe to the response (no JavaScript stream in between). Bytes
 * go out as they arrive (shared/sse-pass-through.ts decides what, if anything, is changed); what the
 * stream said (usage, finish reason, errors, how it ended) is returned for the meter to judge.
 *
 * The upstream is read by a pump that belongs to the request's `waitUntil`, not to the client. If
 * the client disconnects, the model's `on_client_disconnect` decides: `cancel` (default) stops the
 * upstream at once and the meter counts what was produced; `drain` keeps reading (discarding) so
 * the usage the upstream reports at the end is recorded — within the platform's waitUntil budget.
 */
import { StreamEditor, type StreamEditOptions } from "../../../shared/sse-edit.ts";
import { SsePassThrough, usageBlock, type PassThroughOutput } from "../../../shared/sse-pass-through.ts";
import { Transcript, type StreamEnd } from "../../../shared/metering.ts";

export interface RelayOptions {
  /** The upstream counts as cut when no bytes arrive for this long (a stalled or dead connection). */
  idleTimeoutMs: number;
  /** The client asked for `stream_options.include_usage`; otherwise the usage chunk is removed. */
  clientWantsUsage: boolean;
  /** Byte edits so the stream names the alias (and the rest of shared/sse-edit.ts). */
  edit?: StreamEditOptions;
  /**
   * Sees the usage chunk (even one that will be dropped) and may rewrite it (prompt-cache
   * statistics, the cost); null leaves its bytes as they came. Awaited only at that last frame, so
   * it never holds the first token.
   */
  onUsageChunk?: (chunk: Record<string, unknown>) => Promise<Record<string, unknown> | null> | Record<string, unknown> | null;
  /** The client went away (called once). */
  onClientGone?: () => void;
  /**
   * Sees the Responses API's final response object (`response.completed` / `response.incomplete`)
   * once, and is awaited before the bytes carrying it reach the client: what must exist when the
   * client has its last byte (the stored response's read-after-write copy) is written here.
   */
  beforeFinal?: (finalResponse: Record<string, unknown>) => Promise<void>;
  /** What a client going away does to the upstream: `cancel` it at once, or `drain` it for its usage. */
  onClientDisconnect: "cancel" | "drain";
  /** Called once: when the first bytes have been handed to the client, or the relay ended without any. */
  onFirstBytes?: () => void;
}

/** A relayed stream: the client's response now, and how the stream ended once it has. */
export interface Relayed {
  response: Response;
  ended: Promise<StreamEnd>;
}

/**
 * Reads an upstream body, failing it when nothing arrives for `idleTimeoutMs`: a read that never
 * settles is how a dead upstream connection shows up in workerd.
 *
 * One watchdog timer per stream, not one per read: reads only stamp the time, and the timer, when
 * it fires, either re-arms itself for the rest of the window or cancels the body (which ends the
 * pending read) and makes that read throw. A timer and a promise race per chunk cost more CPU than
 * everything else the relay does with the chunk.
 */
export class IdleReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** When the pending read started (null: none pending, e.g. while a chunk is being relayed). */
  private waitingSince: number | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private failure: Error | null = null;

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly idleTimeoutMs: number,
  ) {
    this.reader = body.getReader();
    this.arm(idleTimeoutMs);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      const idle = this.waitingSince === null ? 0 : Date.now() - this.waitingSince;
      if (idle < this.idleTimeoutMs) return this.arm(this.idleTimeoutMs - idle);
      this.failure = new Error(`the upstream sent nothing for ${this.idleTimeoutMs} ms`);
      this.reader.cancel(this.failure).catch(() => undefined);
    }, ms);
  }

  /**
   * Reads to the end, handing each chunk to `onChunk` (awaited only when it returns a promise);
   * throws when the watchdog gave up on the upstream, and stops the watchdog at the end. The loop
   * awaits the runtime's read itself: one await per chunk (an async `read()` wrapper called in a
   * loop cost a second promise and an async call per chunk).
   */
  async each(first: { at: number | null }, onChunk: (bytes: Uint8Array) => void | Promise<void>): Promise<void> {
    for (;;) {
      this.waitingSince = Date.now();
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await this.reader.read();
      } catch (err) {
        this.stop();
        throw this.failure ?? err;
      }
      this.waitingSince = null;
      if (this.failure) throw this.failure;
      if (result.done) return this.stop();
      first.at ??= Date.now();
      const pending = onChunk(result.value);
      if (pending) await pending;
    }
  }

  /** Gives up on the body (after a failure elsewhere); the watchdog stops. */
  cancel(reason: unknown): void {
    this.stop();
    this.reader.cancel(reason).catch(() => undefined);
  }

  private stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

/**
 * Reads the upstream to its end, handing each chunk to `onChunk` (awaited only when it returns a
 * promise); `first.at` is stamped at the first chunk. Throws what broke the read (a cut, the idle
 * watchdog) or what `onChunk` threw.
 */
export function eachUpstreamChunk(reader: IdleReader, first: { at: number | null }, onChunk: (bytes: Uint8Array) => void | Promise<void>): Promise<void> {
  return reader.each(first, onChunk);
}

/**
 * The client's side of a relayed stream: bytes go out as they come, and once the client has gone
 * (cancelled, or the stream can no longer take bytes) sending is a no-op, so the upstream can still
 * be read to the end for metering.
 */
export interface ClientStream {
  body: ReadableStream<Uint8Array>;
  readonly gone: boolean;
  send(bytes: Uint8Array): void;
  /** Ends the stream normally (unless the client has gone). */
  close(): void;
  /** Breaks the stream (unless the client has gone): never an invented clean end. */
  fail(err: unknown): void;
}

export function clientStream(onCancel?: () => void): ClientStream {
  // The runtime's own byte pipe, not a JavaScript ReadableStream: a write hands the bytes straight
  // to the response, which is measurably cheaper (docs/benchmarks.md). Writes are not awaited: the
  // relay never waits on a slow client, and the pipe keeps them in order.
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  let gone = false;
  let ended = false;
  const leave = () => {
    if (gone || ended) return;
    gone = true;
    onCancel?.();
  };
  // The client cancelling its side errors ours: a write or `closed` rejects.
  writer.closed.catch(leave);
  return {
    body: readable,
    get gone() {
      return gone;
    },
    send(bytes) {
      if (gone || bytes.length === 0) return;
      writer.write(bytes).catch(leave);
    },
    close() {
      if (gone) return;
      ended = true;
      writer.close().catch(() => undefined);
    },
    fail(err) {
      if (gone) return;
      ended = true;
      writer.abort(err instanceof Error ? err : new Error(String(err))).catch(() => undefined);
    },
  };
}

/**
 * What a client leaving does to the upstream read: with `cancel`, the upstream body is cancelled
 * at once (the connection closes, so the model server stops generating for nobody); with `drain`,
 * nothing (the read goes on to the usage report). `cancelled` tells the read's end apart from a cut.
 */
export function clientLeaving(reader: IdleReader, policy: "cancel" | "drain"): { left(): void; readonly cancelled: boolean } {
  let cancelled = false;
  return {
    left() {
      if (policy !== "cancel" || cancelled) return;
      cancelled = true;
      reader.cancel(new Error("the client went away"));
    },
    get cancelled() {
      return cancelled;
    },
  };
}

/**
 * Relays an upstream SSE stream; `ended` resolves (never rejects) with what was observed once the
 * upstream is fully read or has failed. The read is handed to `waitUntil`, so it outlives the client.
 */
export function relaySse(upstream: Response, options: RelayOptions, waitUntil: (p: Promise<unknown>) => void): Relayed {
  const reader = new IdleReader(upstream.body!, options.idleTimeoutMs);
  const passThrough = new SsePassThrough({ dropUsageChunk: !options.clientWantsUsage, editor: options.edit ? new StreamEditor(options.edit) : undefined });
  const leaving = clientLeaving(reader, options.onClientDisconnect);
  const client = clientStream(() => {
    options.onClientGone?.();
    leaving.left();
  });

  // Plain bytes go out synchronously: no promise per chunk. Only the usage chunk (its hook may
  // be async) and the final response's hold take the asynchronous path.
  let firstSent = options.onFirstBytes ?? null;
  const send = (parts: PassThroughOutput[]): void | Promise<void> => {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (!(part instanceof Uint8Array)) return sendFrom(parts, i);
      if (client.gone) return;
      client.send(part);
      if (firstSent) {
        firstSent();
        firstSent = null;
      }
    }
  };
  const sendFrom = async (parts: PassThroughOutput[], start: number): Promise<void> => {
    for (let i = start; i < parts.length; i++) {
      const part = parts[i]!;
      let bytes: Uint8Array;
      if (part instanceof Uint8Array) {
        bytes = part;
      } else {
        const edited = options.onUsageChunk ? await options.onUsageChunk(part.usage) : null;
        if (part.drop) continue;
        bytes = edited ? usageBlock(edited, part.original) : part.original;
      }
      if (client.gone) return;
      client.send(bytes);
    }
  };

  let finalHeld = false;
  const release = (parts: PassThroughOutput[]): void | Promise<void> => {
    const final = passThrough.observation.finalResponse;
    if (final && !finalHeld && options.beforeFinal) {
      finalHeld = true;
      return options.beforeFinal(final).then(() => send(parts));
    }
    return send(parts);
  };

  const first: { at: number | null } = { at: null };
  const transcript = new Transcript();
  const ended = (async (): Promise<StreamEnd> => {
    let cut = false;
    try {
      await eachUpstreamChunk(reader, first, (value) => {
        transcript.push(value);
        return release(passThrough.push(value));
      });
      await release(passThrough.end());
      client.close();
    } catch (err) {
      // The upstream cut the stream: the client sees the stream break, never an invented [DONE].
      cut = !leaving.cancelled;
      reader.cancel(err);
      await Promise.resolve()
        .then(() => release(passThrough.end()))
        .catch(() => undefined);
      client.fail(err);
    }
    return { observation: passThrough.observation, cut, clientGone: client.gone, firstByteAt: first.at, transcript };
  })();
  waitUntil(ended);
  if (firstSent) void ended.then(() => firstSent?.());

  const response = new Response(client.body, {
    status: upstream.status,
    headers: { "content-type": upstream.headers.get("content-type") ?? "text/event-stream", "cache-control": "no-cache" },
  });
  return { response, ended };
}
