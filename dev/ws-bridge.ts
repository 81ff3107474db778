/**
 * A loopback WebSocket ↔ TCP bridge so the Neon serverless driver (which speaks the Postgres wire
 * protocol over a WebSocket) can reach a plain Postgres or PGlite socket server. The driver is
 * pointed at it with `NEON_WS_PROXY=127.0.0.1:<port>/v1`; it connects to
 * `ws://127.0.0.1:<port>/v1?address=<host>:<port>` and every binary frame is piped both ways.
 *
 * Development and test tooling only: it refuses any target that is not on this machine.
 */
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type RawData } from "ws";

const TERMINATE = 0x58; // 'X'
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/**
 * Follows the framing of the client → server half of the Postgres protocol to spot Terminate.
 * Postgres closes the connection when it receives Terminate; PGlite's socket server does not, and
 * a WebSocket left open keeps a workerd invocation (a queue batch) from completing. So the bridge
 * closes both sides itself, as a real server would.
 */
export class TerminateWatcher {
  private startup = true;
  private header = Buffer.alloc(0);
  private remaining = 0;
  private type = 0;
  private code = 0;
  terminated = false;

  /** Feeds client bytes; returns true once a complete Terminate message has been seen. */
  feed(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length && !this.terminated) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - i);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.complete();
        continue;
      }
      // Startup-phase messages are length(4) + code(4); later ones are type(1) + length(4).
      const headerLength = this.startup ? 8 : 5;
      const take = chunk.subarray(i, i + headerLength - this.header.length);
      this.header = Buffer.concat([this.header, take]);
      i += take.length;
      if (this.header.length < headerLength) break;
      if (this.startup) {
        this.type = 0;
        this.code = this.header.readInt32BE(4);
        this.remaining = this.header.readInt32BE(0) - 8;
      } else {
        this.type = this.header[0]!;
        this.remaining = this.header.readInt32BE(1) - 4;
      }
      this.header = Buffer.alloc(0);
      if (this.remaining <= 0) {
        this.remaining = 0;
        this.complete();
      }
    }
    return this.terminated;
  }

  private complete(): void {
    if (this.startup) {
      // After an SSL/GSS negotiation request the real startup message is still to come.
      this.startup = this.code === SSL_REQUEST || this.code === GSSENC_REQUEST;
    } else if (this.type === TERMINATE) {
      this.terminated = true;
    }
  }
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export interface WsBridge {
  port: number;
  /** Value for NEON_WS_PROXY. */
  proxy: string;
  close(): Promise<void>;
}

export async function startWsBridge(port = 0): Promise<WsBridge> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket upgrade required\n");
  });
  const wss = new WebSocketServer({ server, path: "/v1" });

  wss.on("connection", (ws, req) => {
    const address = new URL(req.url ?? "", "http://bridge").searchParams.get("address") ?? "";
    const sep = address.lastIndexOf(":");
    const host = address.slice(0, sep);
    const targetPort = Number(address.slice(sep + 1));
    if (!LOOPBACK_HOSTS.has(host) || !Number.isInteger(targetPort) || targetPort <= 0) {
      ws.close(1008, "only loopback Postgres targets are allowed");
      return;
    }
    const socket = connect({ host: host.replace(/^\[|\]$/g, ""), port: targetPort });
    socket.setNoDelay(true);
    const watcher = new TerminateWatcher();
    // Frames that arrive before the TCP connection is up are buffered by the socket itself.
    ws.on("message", (data: RawData) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      socket.write(bytes);
      if (watcher.feed(bytes)) socket.end();
    });
    socket.on("data", (chunk) => {
      if (ws.readyState === ws.OPEN) ws.send(chunk);
    });
    const closeBoth = () => {
      socket.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
    };
    ws.on("close", closeBoth);
    ws.on("error", closeBoth);
    socket.on("close", closeBoth);
    socket.on("error", closeBoth);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    proxy: `127.0.0.1:${actual}/v1`,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
