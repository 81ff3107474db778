/**
 * What metered traffic means for billing, decided in one place: the gateway's Meter
 * (workers/gateway/src/meter.ts) applies these rules; the relays only report what they saw.
 */
import type { StreamObservation } from "./sse-tee.ts";
import type { TokenUsage } from "./usage-message.ts";

/** How a relayed stream ended, as its relay saw it (see stream.ts and responses-via-chat.ts). */
export interface StreamEnd {
  observation: StreamObservation;
  /** The upstream broke off: a read error, or silence past the idle timeout. */
  cut: boolean;
  /** The client went away before the stream ended. */
  clientGone: boolean;
  /** When the first upstream byte arrived (epoch ms); null when none did. */
  firstByteAt: number | null;
}

/** What a finished stream means for billing: decided here and nowhere else. */
export interface StreamVerdict {
  usage: TokenUsage | null;
  finishReason: string | null;
  responseType: "stream" | "stream_error";
  /** The response ended early (cut, error frame, no end marker, or the client left before usage). */
  truncated: boolean;
  /** A complete, error-free stream with usage, fully delivered: safe to commit side effects for. */
  complete: boolean;
}

/**
 * The one rule for streams. A stream really ended when the upstream said so — `[DONE]`, its usage
 * report, or a terminal response object — without breaking off or reporting an error; a client
 * that left before the usage arrived saw a truncated answer too.
 */
export function streamVerdict(end: StreamEnd): StreamVerdict {
  const seen = end.observation;
  const ended = seen.sawDone || seen.usage !== null || seen.finalResponse !== null;
  const truncated = end.cut || !!seen.errorFrame || !ended || (end.clientGone && seen.usage === null);
  return {
    usage: seen.usage,
    finishReason: seen.finishReason,
    responseType: seen.errorFrame ? "stream_error" : "stream",
    truncated,
    complete: !truncated && seen.usage !== null && !end.clientGone,
  };
}
