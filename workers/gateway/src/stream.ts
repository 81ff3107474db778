/**
 * Relays an upstream SSE stream to the client through one JavaScript stream hop. Bytes go out as
 * they arrive (shared/sse-tee.ts decides what, if anything, is changed); the meter learns usage,
 * finish reason, errors and truncation.
 *
 * The upstream is read by a pump that belongs to the request's `waitUntil`, not to the client: if
 * the client disconnects, the pump keeps reading (discarding) so the usage the upstream reports
 * at the end is still recorded — within the platform's waitUntil budget.
 */
import { SseTee, usageBlock, type SseObservation, type TeeOutput } from "../../../shared/sse-tee.ts";
import type { MeterState } from "./meter.ts";

export interface RelayOptions {
  /** The upstream counts as cut when no bytes arrive for this long (a stalled or dead connection). */
  idleTimeoutMs: number;
  /** The client asked for `stream_options.include_usage`; otherwise the usage chunk is removed. */
  clientWantsUsage: boolean;
  /**
   * Sees the usage chunk (even one that will be dropped) and may rewrite it (prompt-cache
   * statistics). Awaited only at that last frame, so it never holds the first token.
   */
  onUsageChunk?: (chunk: Record<string, unknown>) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** The client went away (called once). */
  onClientGone?: () => void;
  /**
   * The upstream is fully read (or failed); `ok` = a complete, error-free stream with usage. `seen`
   * is everything the meter observed (for the Responses API, the final response object).
   */
  onFinished?: (ok: boolean, seen: SseObservation) => void;
}

/**
 * One read of the upstream body, rejected when nothing arrives for `idleTimeoutMs`: a read that
 * never settles is how a dead upstream connection shows up in workerd.
 */
export async function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, idleTimeoutMs: number): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the upstream sent nothing for ${idleTimeoutMs} ms`)), idleTimeoutMs);
  });
  const next = reader.read();
  next.catch(() => undefined); // if the idle timer wins, this read still settles later
  try {
    return await Promise.race([next, idle]);
  } finally {
    clearTimeout(timer);
  }
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
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let gone = false;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      gone = true;
      onCancel?.();
    },
  });
  return {
    body,
    get gone() {
      return gone;
    },
    send(bytes) {
      if (gone || bytes.length === 0) return;
      try {
        controller.enqueue(bytes);
      } catch {
        gone = true; // cancelled between the check and the enqueue
      }
    },
    close() {
      if (!gone) controller.close();
    },
    fail(err) {
      if (!gone) controller.error(err instanceof Error ? err : new Error(String(err)));
    },
  };
}

export function relaySse(upstream: Response, meter: MeterState, options: RelayOptions, waitUntil: (p: Promise<unknown>) => void): Response {
  const reader = upstream.body!.getReader();
  const tee = new SseTee({ dropUsageChunk: !options.clientWantsUsage });
  const client = clientStream(options.onClientGone);

  const send = async (parts: TeeOutput[]) => {
    for (const part of parts) {
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

  let upstreamFailed = false;
  const read = () => readWithin(reader, options.idleTimeoutMs);
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await read();
        if (done) break;
        if (meter.ttfbMs === null) meter.ttfbMs = Date.now() - meter.startedAt;
        await send(tee.push(value));
      }
      await send(tee.end());
      client.close();
    } catch (err) {
      // The upstream cut the stream: the client sees the stream break, never an invented [DONE].
      upstreamFailed = true;
      reader.cancel(err).catch(() => undefined);
      await send(tee.end()).catch(() => undefined);
      client.fail(err);
    } finally {
      const seen = tee.observation;
      if (seen.usage) meter.usage = seen.usage;
      meter.finishReason = seen.finishReason;
      meter.responseType = seen.errorFrame ? "stream_error" : "stream";
      meter.truncated = upstreamFailed || !!seen.errorFrame || (!seen.sawDone && !seen.usage) || (client.gone && !seen.usage);
      options.onFinished?.(!upstreamFailed && !seen.errorFrame && !!seen.usage && !client.gone, seen);
    }
  })();
  meter.done = pump;
  waitUntil(pump);

  return new Response(client.body, {
    status: upstream.status,
    headers: { "content-type": upstream.headers.get("content-type") ?? "text/event-stream", "cache-control": "no-cache" },
  });
}
