/**
 * The reference workers bench:gateway (and bench/stream-variants.ts) run beside the gateway, as
 * module-worker source text.
 */

/** The floor: fetch the upstream and return its response (the runtime's own cost of a proxy). */
export const FLOOR_SCRIPT = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM + url.pathname.replace(/^\\/ai\\/v1/, "/v1"), {
      method: request.method, headers: { "content-type": "application/json" }, body: request.body,
    });
  },
};`;

/**
 * What the editing relay and its variants (bench/stream-variants.ts) share, as module source: the
 * encoders, the byte search, one event's edit (the usage-only event dropped, the model named as the
 * alias) and joining the pieces.
 */
export const RELAY_EDIT_HELPERS = `const enc = new TextEncoder();
const dec = new TextDecoder();
const MODEL = enc.encode('"model":"');
const USAGE = enc.encode('"usage":{');
function find(bytes, needle, from, end) {
  outer: for (let i = from; i <= end - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
function editEvent(bytes, start, end, alias, out) {
  if (find(bytes, USAGE, start, end) >= 0) {
    const text = dec.decode(bytes.subarray(start, end));
    const event = JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1));
    if (Array.isArray(event.choices) && event.choices.length === 0) return;
  }
  const m = find(bytes, MODEL, start, end);
  if (m < 0) return void out.push(bytes.subarray(start, end));
  const value = m + MODEL.length;
  let close = value;
  while (close < end && bytes[close] !== 34) close++;
  out.push(bytes.subarray(start, value), alias, bytes.subarray(close, end));
}
function concat(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const joined = new Uint8Array(n);
  n = 0;
  for (const p of parts) { joined.set(p, n); n += p.length; }
  return joined;
}
`;

/**
 * The editing relay's stream loop, as module source (with RELAY_EDIT_HELPERS): `pump(reader,
 * writer, alias)` relays a BYOB reader into a writer, editing each event (bench:gateway's
 * bare relay runs it too).
 */
export const EDITING_PUMP = `${RELAY_EDIT_HELPERS}async function pump(reader, writer, alias) {
  let buffer = new ArrayBuffer(65536);
  let carry = null;
  try {
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(buffer, 0, 65536));
      if (done) break;
      buffer = value.buffer;
      const bytes = carry ? concat([carry, value]) : value;
      carry = null;
      const out = [];
      let start = 0;
      for (let i = 0; i + 1 < bytes.length; i++) {
        if (bytes[i] === 10 && bytes[i + 1] === 10) {
          editEvent(bytes, start, i + 2, alias, out);
          start = i + 2;
          i++;
        }
      }
      if (start < bytes.length) carry = bytes.slice(start);
      if (out.length > 0) await writer.write(concat(out));
    }
    if (carry) await writer.write(carry);
    await writer.close();
  } catch (err) {
    await writer.abort(err).catch(() => undefined);
  }
}
`;

/**
 * The editing relay: the least a relay that edits can cost in workerd (issue #20's last reference
 * row). It forwards with the usage chunk forced on, and relays the stream through one BYOB read
 * loop into a reused 64 KiB buffer: a byte scan for event boundaries and for \`"usage":{\`, JSON
 * parsed only for an event that has usage (dropped when it is the usage-only event the client did
 * not ask for), the model name replaced in the bytes, one awaited write per upstream chunk into an
 * IdentityTransformStream. No metering, no framework, no lookups.
 */
export const EDITING_RELAY_SCRIPT = `
${EDITING_PUMP}export default {
  async fetch(request, env, ctx) {
    const body = await request.json();
    const upstream = await fetch(env.UPSTREAM + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, model: "mock-gpt", stream_options: { include_usage: true } }),
    });
    const { readable, writable } = new IdentityTransformStream();
    ctx.waitUntil(pump(upstream.body.getReader({ mode: "byob" }), writable.getWriter(), enc.encode(body.model)));
    return new Response(readable, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
  },
};`;
