/**
 * `npm run bench:sse-edit` — what the alias rewrite (shared/sse-edit.ts) adds to a relayed stream,
 * measured side by side in one run: the relay's per-stream work (SsePassThrough: framing, metering, the
 * usage chunk) with the editor and without it, on the stream bench:gateway uses (20 chat chunks
 * of ~160 B, each its own upstream write, then the usage chunk and [DONE]), in alternating
 * windows so machine noise falls on both alike. Pure JavaScript in Node (the same V8 as workerd);
 * the result is the editor's CPU per stream, and its share of a gateway stream's CPU when
 * BENCH_GATEWAY_STREAM_CPU_US (bench:gateway's CPU per stream, µs) is given.
 */
import { StreamEditor } from "../shared/sse-edit.ts";
import { SsePassThrough, type PassThroughOutput } from "../shared/sse-pass-through.ts";

const WINDOWS = Number(process.env.BENCH_WINDOWS ?? 10);
const STREAMS_PER_WINDOW = Number(process.env.BENCH_STREAMS ?? 2000);
const GATEWAY_CPU_US = Number(process.env.BENCH_GATEWAY_STREAM_CPU_US ?? 0);

const encoder = new TextEncoder();
const created = 1_770_000_000;
function chunk(i: number, content: string | null, finish: string | null): string {
  const delta = content === null ? {} : { content };
  return `data: {"id":"chatcmpl-mock1","object":"chat.completion.chunk","created":${created},"model":"mock-gpt","system_fingerprint":null,"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish === null ? "null" : `"${finish}"`}}],"usage":null}\n\n`;
}
const frames: Uint8Array[] = [
  ...Array.from({ length: 19 }, (_, i) => encoder.encode(chunk(i, ` word${i}`, null))),
  encoder.encode(chunk(19, null, "stop")),
  encoder.encode(
    `data: {"id":"chatcmpl-mock1","object":"chat.completion.chunk","created":${created},"model":"mock-gpt","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}\n\n`,
  ),
  encoder.encode("data: [DONE]\n\n"),
];
const streamBytes = frames.reduce((n, f) => n + f.length, 0);

let sink = 0;
/** Bytes forwarded, or the usage chunk the relay holds back for its hook. */
const size = (out: PassThroughOutput) => (out instanceof Uint8Array ? out.length : out.original.length);
function relayOne(edit: boolean): void {
  const passThrough = new SsePassThrough({
    dropUsageChunk: true,
    editor: edit ? new StreamEditor({ alias: "demo-model", dropNullUsage: true, previousResponseId: null }) : undefined,
  });
  for (const frame of frames) for (const out of passThrough.push(frame)) sink += size(out);
  for (const out of passThrough.end()) sink += size(out);
}

function window(edit: boolean): number {
  const start = process.cpuUsage();
  for (let i = 0; i < STREAMS_PER_WINDOW; i++) relayOne(edit);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / STREAMS_PER_WINDOW;
}

// Warm both paths (JIT) before measuring.
for (let i = 0; i < 3; i++) {
  window(false);
  window(true);
}
const plain: number[] = [];
const edited: number[] = [];
for (let w = 0; w < WINDOWS; w++) {
  // Alternate which goes first, so drift in the machine's load is shared.
  if (w % 2 === 0) {
    plain.push(window(false));
    edited.push(window(true));
  } else {
    edited.push(window(true));
    plain.push(window(false));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 1000) / 1000;
const plainUs = median(plain);
const editedUs = median(edited);
const editUs = editedUs - plainUs;
const result: Record<string, number | string> = {
  stream_bytes: streamBytes,
  frames: frames.length,
  relay_us_per_stream_without_edit: round(plainUs),
  relay_us_per_stream_with_edit: round(editedUs),
  edit_us_per_stream: round(editUs),
  edit_cost_vs_relay: round(editedUs / plainUs),
};
if (GATEWAY_CPU_US > 0) {
  result.gateway_stream_cpu_us = GATEWAY_CPU_US;
  // The stream throughput a CPU-bound gateway loses to the edit: its share of the stream's CPU.
  result.edit_share_of_gateway_stream_cpu = round(editUs / GATEWAY_CPU_US);
  result.target = "edit_share_of_gateway_stream_cpu ≤ 0.03 (issue #15: stream throughput drops ≤ 3%)";
}
console.log(JSON.stringify(result, null, 2));
if (sink === 0) throw new Error("nothing relayed");
