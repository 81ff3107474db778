/**
 * Embedded Postgres (dev/embedded-postgres.ts) is one PGlite backend shared by every connection.
 * These tests hold it to what each client must see anyway: its own results, its own errors and its
 * own transaction, whatever the other connections do at the same time. Always embedded, whether or
 * not DATABASE_URL is set: it is the server under test.
 */
import { connect, type Socket } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../dev/embedded-postgres.ts";
import { seededRandom } from "../../dev/seeded-random.ts";

let server: EmbeddedPostgres;

beforeAll(async () => {
  server = await startEmbeddedPostgres();
  const c = new pg.Client({ connectionString: server.databaseUrl });
  await c.connect();
  await c.query("CREATE TABLE mux (client int NOT NULL, v int NOT NULL)");
  await c.end();
}, 60_000);

afterAll(async () => {
  await server?.close();
});

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: server.databaseUrl });
  // A failing run can leave clients open when the server stops; their failure is the test's.
  c.on("error", () => {});
  await c.connect();
  return c;
}

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  return "no error";
}

/** One client's share of the mixed load: each step checks its own answer. */
async function mixedLoad(c: pg.Client, id: number, steps: number, next: () => number): Promise<void> {
  let committed = 0;
  for (let i = 0; i < steps; i++) {
    const tag = `c${id}-q${i}`;
    switch (Math.floor(next() * 6)) {
      case 0: {
        const { rows } = await c.query("SELECT $1::int AS n, $2::text AS tag, pg_backend_pid() AS pid", [id * 1000 + i, tag]);
        expect(rows).toEqual([{ n: id * 1000 + i, tag, pid: expect.any(Number) }]);
        break;
      }
      case 1: {
        // A different column shape and row count each time.
        const count = 1 + ((id + i) % 7);
        const { rows } = await c.query("SELECT i, $2::text || '/' || i AS label FROM generate_series(1, $1::int) AS i", [count, tag]);
        expect(rows).toEqual(Array.from({ length: count }, (_, k) => ({ i: k + 1, label: `${tag}/${k + 1}` })));
        break;
      }
      case 2: {
        // Fails while executing; the next statement must not be skipped or see the error.
        expect(await errorOf(c.query("SELECT $1::int / 0 AS boom", [id]))).toBe("division by zero");
        const { rows } = await c.query("SELECT $1::text AS after_error", [tag]);
        expect(rows).toEqual([{ after_error: tag }]);
        break;
      }
      case 3: {
        // Fails while binding a parameter.
        expect(await errorOf(c.query("SELECT $1::int AS n", [`not-a-number-${tag}`]))).toBe(`invalid input syntax for type integer: "not-a-number-${tag}"`);
        break;
      }
      case 4: {
        // An explicit transaction: what it wrote is visible inside, gone after a rollback.
        const rollback = next() < 0.4;
        await c.query("BEGIN");
        await c.query("INSERT INTO mux (client, v) VALUES ($1, $2)", [id, i]);
        const inside = await c.query("SELECT count(*)::int AS n FROM mux WHERE client = $1", [id]);
        expect(inside.rows).toEqual([{ n: committed + 1 }]);
        await c.query(rollback ? "ROLLBACK" : "COMMIT");
        if (!rollback) committed++;
        const after = await c.query("SELECT count(*)::int AS n, $2::text AS tag FROM mux WHERE client = $1", [id, tag]);
        expect(after.rows).toEqual([{ n: committed, tag }]);
        break;
      }
      default: {
        // A simple-protocol query between extended ones.
        const { rows } = await c.query(`SELECT '${tag}' AS simple, ${id} AS id`);
        expect(rows).toEqual([{ simple: tag, id }]);
      }
    }
  }
  const { rows } = await c.query("SELECT count(*)::int AS n FROM mux WHERE client = $1", [id]);
  expect(rows).toEqual([{ n: committed }]);
}

/** A raw protocol connection: startup done, messages written by hand. */
async function rawConnection(): Promise<{ socket: Socket; read(untilType: string): Promise<string[]> }> {
  const url = new URL(server.databaseUrl);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let buffered = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    waiter?.();
  });
  /** Message types received up to and including the first of `untilType`. */
  async function read(untilType: string): Promise<string[]> {
    const types: string[] = [];
    for (;;) {
      while (buffered.length >= 5 && buffered.length >= 1 + buffered.readInt32BE(1)) {
        const type = String.fromCharCode(buffered[0]!);
        buffered = buffered.subarray(1 + buffered.readInt32BE(1));
        types.push(type);
        if (type === untilType) return types;
      }
      await new Promise<void>((resolve) => (waiter = resolve));
    }
  }
  const params = Buffer.from("user\0postgres\0database\0postgres\0\0");
  const startup = Buffer.alloc(8);
  startup.writeInt32BE(8 + params.length, 0);
  startup.writeInt32BE(196608, 4);
  socket.write(Buffer.concat([startup, params]));
  await read("Z");
  return { socket, read };
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

describe("embedded Postgres with concurrent connections", () => {
  it("gives each of 32 clients its own results, errors and transactions under a mixed load", async () => {
    const clients = await Promise.all(Array.from({ length: 32 }, () => client()));
    try {
      const results = await Promise.allSettled(clients.map((c, id) => mixedLoad(c, id, 50, seededRandom(1000 + id))));
      const failures = results.flatMap((r, id) => (r.status === "rejected" ? [`client ${id}: ${(r.reason as Error).message}`] : []));
      expect(failures).toEqual([]);
    } finally {
      await Promise.allSettled(clients.map((c) => c.end()));
    }
  }, 120_000);

  it("rolls back the transaction of a connection that disconnects inside it, and others go on", async () => {
    const [a, b] = await Promise.all([client(), client()]);
    await a.query("BEGIN");
    await a.query("INSERT INTO mux (client, v) VALUES ($1, $2)", [-1, 1]);
    try {
      // b's statement waits for a's transaction; a then vanishes without a word.
      const waiting = b.query("SELECT count(*)::int AS n FROM mux WHERE client = $1", [-1]);
      (a as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
      expect((await waiting).rows).toEqual([{ n: 0 }]);
      const { rows } = await b.query("SELECT now() = statement_timestamp() AS own_transaction");
      expect(rows).toEqual([{ own_transaction: true }]);
    } finally {
      await b.end();
    }
  });

  it("keeps an extended-protocol exchange split by Flush to its connection until Sync", async () => {
    const raw = await rawConnection();
    const other = await client();
    try {
      // Parse and Describe the unnamed statement, Flush, and read the description…
      raw.socket.write(
        Buffer.concat([
          message("P", Buffer.from("\0SELECT $1::text AS raw_col\0\0\0")),
          message("D", Buffer.from("S\0")),
          message("H", Buffer.alloc(0)),
        ]),
      );
      expect(await raw.read("T")).toEqual(["1", "t", "T"]);
      // …while another connection wants the unnamed statement for itself…
      const otherQuery = other.query("SELECT $1::int AS other_col", [7]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      // …then Bind and Execute it: the statement must still be the one parsed above.
      const bind = Buffer.concat([Buffer.from("\0\0\0\0\0\x01"), Buffer.from([0, 0, 0, 3]), Buffer.from("abc"), Buffer.from([0, 0])]);
      raw.socket.write(Buffer.concat([message("B", bind), message("E", Buffer.from("\0\0\0\0\0")), message("S", Buffer.alloc(0))]));
      // (PGlite reports parameters, 'S', before each ReadyForQuery.)
      expect((await raw.read("Z")).filter((t) => t !== "S")).toEqual(["2", "D", "C", "Z"]);
      expect((await otherQuery).rows).toEqual([{ other_col: 7 }]);
    } finally {
      raw.socket.end(message("X", Buffer.alloc(0)));
      await other.end();
    }
  });
});
