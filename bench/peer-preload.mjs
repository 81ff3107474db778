/**
 * Preloaded (`node --import`) into the peer gateway's process (Portkey from npm) by bench:gateway.
 * Two environment fixes, nothing of the peer's own code is changed:
 *
 * - Loopback only: its server is given a port but no host, so it would listen on every
 *   interface; every server in the process listens on 127.0.0.1 instead.
 * - Mutable upstream headers: on Node 20 its streaming path appends headers to the Response that
 *   `fetch` returned, whose headers are immutable, and every stream fails (TypeError: immutable).
 *   Each upstream Response is re-wrapped in a `new Response(body, response)` (a few µs per call,
 *   counted in its figures).
 */
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  if (typeof args[0] === "number" && typeof args[1] === "function") args.splice(1, 0, "127.0.0.1");
  else if (typeof args[0] === "number" && args[1] == null) args[1] = "127.0.0.1";
  else if (args[0] && typeof args[0] === "object" && args[0].port !== undefined && !args[0].host) args[0] = { ...args[0], host: "127.0.0.1" };
  return listen.apply(this, args);
};

const upstreamFetch = globalThis.fetch;
globalThis.fetch = async function fetchWithMutableHeaders(...args) {
  const response = await upstreamFetch(...args);
  return new Response(response.body, response);
};
