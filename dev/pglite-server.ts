/**
 * A Postgres wire-protocol server in front of one PGlite instance, so `pg`, psql and (through the
 * WebSocket bridge) the Neon driver can use embedded Postgres over TCP.
 *
 * PGlite is a single backend: one session, one unnamed statement and portal, one transaction. Many
 * client connections share it, so each must get the backend to itself for as long as the backend
 * holds state that belongs to that client:
 *
 * - Messages are run in groups. A connection's bytes are buffered until they hold a message after
 *   which the client may wait for an answer (a flush point: Sync, Query, Flush, FunctionCall);
 *   everything buffered up to the last such message is handed to PGlite in one call. Parse/Bind/Describe/Execute of one query therefore never interleave with another
 *   connection's.
 * - After a group, the connection keeps the backend (it is the "owner") unless the backend's last
 *   answer was ReadyForQuery with status idle. That covers an explicit transaction ('T', or 'E' when
 *   failed), an extended-protocol exchange the client split with Flush and has not yet ended with
 *   Sync (including the "skip until Sync" state after an error).
 *   Meanwhile only the owner's groups run; the others wait their turn in arrival order.
 * - An owner that disconnects is cleaned up: a Sync ends whatever exchange it left open and a
 *   ROLLBACK its transaction, so the next connection starts from an idle backend.
 *
 * Not shared-backend-proof (as with the library server this replaces): session state a client sets
 * (SET, named prepared statements, temporary tables, LISTEN) is seen by every connection, and a
 * client idle inside a transaction stalls all others until it commits, rolls back or disconnects.
 * COPY FROM STDIN cannot work: PGlite reads the copy data within the call that runs the COPY
 * statement, finds none (the client sends it only after CopyInResponse) and exits, taking the
 * process down. COPY TO STDOUT works.
 */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import type { PGlite } from "@electric-sql/pglite";

/** Request codes sent in place of a protocol version in the first, untyped message. */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

const code = (c: string) => c.charCodeAt(0);
/** Frontend messages after which a client may wait for an answer: a group must end at one. */
const FLUSH_POINTS = new Set(["S", "Q", "H", "F"].map(code));
const TERMINATE = code("X");
const READY_FOR_QUERY = code("Z");
const IDLE = code("I");

/**
 * Whole messages buffered past this size run even without a flush point (a huge pipeline), to bound
 * memory; the connection keeps the backend until its exchange ends, so this is safe.
 */
const RUN_WITHOUT_FLUSH_BYTES = 1 << 20;
/** A connection stops being read while this much of its input waits for its turn. */
const PAUSE_INPUT_BYTES = 4 << 20;
/** Larger startup packets are not Postgres clients. */
const MAX_STARTUP_BYTES = 10_000;

/**
 * Follows the backend's answer stream (split anywhere) to tell whether the last whole message was
 * ReadyForQuery with status idle.
 */
class AnswerTracker {
  private header = Buffer.alloc(5);
  private headerBytes = 0;
  private bodyLeft = 0;
  private bodyRead = 0;
  private type = 0;
  private status = 0;
  /** Whether any byte has been seen (an empty answer leaves the state as it was). */
  seen = false;

  feed(data: Uint8Array): void {
    if (data.length > 0) this.seen = true;
    let i = 0;
    while (i < data.length) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, data.length - i);
        if (this.type === READY_FOR_QUERY && this.bodyRead === 0) this.status = data[i]!;
        this.bodyRead += n;
        this.bodyLeft -= n;
        i += n;
        continue;
      }
      this.header[this.headerBytes++] = data[i++]!;
      if (this.headerBytes === 5) {
        this.type = this.header[0]!;
        this.bodyLeft = this.header.readInt32BE(1) - 4;
        this.bodyRead = 0;
        this.status = 0;
        this.headerBytes = 0;
      }
    }
  }

  /** The answer ended with ReadyForQuery 'I': the backend holds nothing for this client. */
  get endsIdle(): boolean {
    return this.headerBytes === 0 && this.bodyLeft === 0 && this.type === READY_FOR_QUERY && this.status === IDLE;
  }
}

/** One client connection: its socket and the input not yet handed to PGlite. */
class Connection {
  /** Input received, not yet run. Chunks are joined lazily, once a whole message can be read. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private input = Buffer.alloc(0);
  /** Bytes at the head of `input` already split into whole messages. */
  private scanned = 0;
  /** End of the group that may run now (0: none). */
  private groupEnd = 0;
  /** Bytes needed before the next message is whole, to avoid joining chunks for nothing. */
  private needBytes = 0;
  /** The startup packet: not yet seen, seen and waiting to run, or run. */
  private startup: "awaited" | "queued" | "done" = "awaited";
  /** Terminate received: nothing after it is read; the socket closes once the rest has run. */
  private terminated = false;
  closed = false;
  /** The backend's last answer to this connection left it idle (see AnswerTracker). */
  idle = true;

  constructor(
    readonly socket: Socket,
    private readonly schedule: (c: Connection) => void,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("drain", () => this.schedule(this));
    // A reset or a failed write ends in "close", where the connection is cleaned up.
    socket.on("error", () => {});
    socket.on("close", () => this.drop());
  }

  /** Gone (or thrown out): its unrun input is discarded; the scheduler cleans up after it. */
  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.chunks = [];
    this.input = Buffer.alloc(0);
    this.groupEnd = this.scanned = 0;
    this.schedule(this);
  }

  /** A group can run now: whole messages up to a flush point, and the client reads its answers. */
  get runnable(): boolean {
    return !this.closed && this.groupEnd > 0 && !this.socket.writableNeedDrain;
  }

  private receive(chunk: Buffer): void {
    if (this.terminated || this.closed) return;
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.input.length + this.chunkBytes < this.needBytes) return;
    this.input = Buffer.concat([this.input, ...this.chunks]);
    this.chunks = [];
    this.chunkBytes = 0;
    this.scan();
    if (this.groupEnd > 0 && this.input.length >= PAUSE_INPUT_BYTES) this.socket.pause();
    if (this.groupEnd > 0) this.schedule(this);
  }

  /** Splits new input into messages and moves `groupEnd` to the last flush point seen. */
  private scan(): void {
    const buf = this.input;
    while (!this.terminated && !this.closed) {
      const at = this.scanned;
      if (this.startup === "queued") return; // runs alone; typed messages are read after it
      if (this.startup === "awaited") {
        // Untyped: Int32 length, Int32 protocol version or request code, then parameters.
        if (buf.length - at < 8) return void (this.needBytes = at + 8);
        const size = buf.readInt32BE(at);
        const request = buf.readInt32BE(at + 4);
        if (size === 8 && (request === SSL_REQUEST || request === GSSENC_REQUEST)) {
          // No encryption here; the client goes on in plain text (or gives up, if it insists).
          this.socket.write("N");
          this.input = buf.subarray(at + 8);
          return this.scan();
        }
        if (request === CANCEL_REQUEST || size < 8 || size > MAX_STARTUP_BYTES) {
          // Cancelling is not supported (PGlite cannot be interrupted); the connection just ends.
          this.drop();
          return;
        }
        if (buf.length - at < size) return void (this.needBytes = at + size);
        this.scanned = this.groupEnd = at + size;
        this.startup = "queued";
        return;
      }
      // Typed: Byte1 type, Int32 length counting itself, body.
      if (buf.length - at < 5) return void (this.needBytes = at + 5);
      const type = buf[at]!;
      const size = buf.readInt32BE(at + 1);
      if (size < 4) {
        this.drop(); // not the protocol
        return;
      }
      const end = at + 1 + size;
      if (buf.length < end) return void (this.needBytes = end);
      if (type === TERMINATE) {
        // Whatever came before still runs (even without a flush point); then the socket closes.
        this.terminated = true;
        this.input = buf.subarray(0, at);
        this.groupEnd = at;
        this.finishIfTerminated();
        return;
      }
      this.scanned = end;
      if (FLUSH_POINTS.has(type) || end >= RUN_WITHOUT_FLUSH_BYTES) this.groupEnd = end;
    }
  }

  /** Takes the runnable group out of the input. */
  takeGroup(): Buffer {
    const group = this.input.subarray(0, this.groupEnd);
    this.input = this.input.subarray(this.groupEnd);
    this.scanned -= this.groupEnd;
    this.needBytes = 0;
    this.groupEnd = 0;
    if (this.startup === "queued") {
      this.startup = "done";
      this.scan(); // typed messages sent right behind the startup packet
    }
    if (this.socket.isPaused()) this.socket.resume();
    return group;
  }

  send(data: Uint8Array): void {
    // PGlite reuses the memory it hands out: copy before queueing the write.
    if (!this.closed && this.socket.writable) this.socket.write(Buffer.from(data));
  }

  /** After Terminate, once everything before it has run: close our end. */
  finishIfTerminated(): void {
    if (this.terminated && this.groupEnd === 0 && !this.closed) this.socket.end();
  }
}

/** A frontend message: type byte, Int32 length, body. */
function frontend(type: string, body: string): Buffer {
  const bytes = Buffer.alloc(5 + Buffer.byteLength(body));
  bytes.write(type, 0, "latin1");
  bytes.writeInt32BE(bytes.length - 1, 1);
  bytes.write(body, 5);
  return bytes;
}

export interface PgliteServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `db` on host:port (0: any free port). close() stops listening, drops every connection and
 * waits for the running group; the caller closes `db`.
 */
export async function servePglite(db: PGlite, host = "127.0.0.1", port = 0): Promise<PgliteServer> {
  await db.waitReady;
  const connections = new Set<Connection>();
  /** Connections with a group to run, in arrival order (each at most once). */
  const waiting: Connection[] = [];
  /** The connection the backend currently belongs to (see the file comment), if any. */
  let owner: Connection | undefined;
  let pumping: Promise<void> | undefined;
  /** After close(): the caller is closing `db`, nothing may run. */
  let stopped = false;

  function schedule(c: Connection): void {
    if (stopped) return;
    if (!waiting.includes(c)) waiting.push(c);
    pumping ??= pump().finally(() => (pumping = undefined));
  }

  /** The next connection allowed to run a group, if any can now. */
  function next(): Connection | undefined {
    if (owner) return owner.runnable ? owner : undefined;
    for (let i = 0; i < waiting.length; i++) {
      const c = waiting[i]!;
      if (c.runnable) return waiting.splice(i, 1)[0];
      // Closed or without a whole group: it schedules itself again when that changes. One that
      // waits for its client to read (drain) stays queued for its turn.
      if (c.closed || !c.socket.writableNeedDrain) waiting.splice(i--, 1);
    }
    return undefined;
  }

  /** Runs groups one at a time until none can run. */
  async function pump(): Promise<void> {
    for (;;) {
      if (owner?.closed) {
        await abandon();
        owner = undefined;
      }
      const c = next();
      if (!c) return;
      const group = c.takeGroup();
      const answer = new AnswerTracker();
      try {
        await db.runExclusive(() =>
          db.execProtocolRawStream(group, {
            onRawData: (data) => {
              answer.feed(data);
              c.send(data);
            },
          }),
        );
        if (answer.seen) c.idle = answer.endsIdle;
      } catch (err) {
        // PGlite refused the input outright (e.g. a startup packet it cannot read): drop the client.
        console.error("embedded Postgres: dropping a connection:", err);
        c.idle = false; // unknown state: clean up as for a departed owner
        c.drop();
      }
      owner = c.idle ? undefined : c;
      c.finishIfTerminated();
      if (!c.idle && c.closed) continue; // cleaned up at the top of the loop
      if (c.runnable && c !== owner && !waiting.includes(c)) waiting.push(c); // more pipelined input: back of the line
    }
  }

  /** Ends what a departed owner left open: an extended exchange, then its transaction. */
  async function abandon(): Promise<void> {
    // (Always our own callback: PGlite keeps the last one it was given, a client's socket writer.)
    const discard = { onRawData: () => {} };
    await db.runExclusive(async () => {
      // Sync ends an exchange (or the skip after an error); on an idle backend it only answers.
      await db.execProtocolRawStream(frontend("S", ""), discard);
      if (db.isInTransaction()) await db.execProtocolRawStream(frontend("Q", "ROLLBACK\0"), discard);
    });
  }

  const server: Server = createServer((socket) => {
    const c = new Connection(socket, schedule);
    connections.add(c);
    socket.on("close", () => connections.delete(c));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.drop();
      await closed;
      // Let the last sockets' "close" handlers run, then the clean-up they scheduled.
      await new Promise((resolve) => setImmediate(resolve));
      while (pumping) await pumping;
      stopped = true;
    },
  };
}
