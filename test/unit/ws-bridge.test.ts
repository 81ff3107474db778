import { describe, expect, it } from "vitest";
import { TerminateWatcher } from "../../dev/ws-bridge.ts";

function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function startupMessage(code: number, body = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(code, 4);
  return Buffer.concat([head, body]);
}

const SSL = startupMessage(80877103);
const STARTUP = startupMessage(196608, Buffer.from("user\0postgres\0database\0postgres\0\0", "latin1"));
// A query whose text contains the Terminate bytes, to prove framing (not byte search) decides.
const QUERY = message("Q", Buffer.from("SELECT 'X\0\0\0\x04'\0", "latin1"));
const TERMINATE = message("X");

/** Feeds the stream in the given pieces; returns the offset at which the watcher fired, or -1. */
function firedAt(stream: Buffer, cuts: number[]): number {
  const w = new TerminateWatcher();
  let start = 0;
  for (const end of [...cuts, stream.length]) {
    if (w.feed(stream.subarray(start, end))) return end;
    start = end;
  }
  return -1;
}

describe("TerminateWatcher", () => {
  const stream = Buffer.concat([SSL, STARTUP, QUERY, TERMINATE]);

  it("fires on Terminate and not before, whole or byte by byte", () => {
    expect(firedAt(stream, [])).toBe(stream.length);
    expect(firedAt(stream, Array.from({ length: stream.length - 1 }, (_, i) => i + 1))).toBe(stream.length);
  });

  it("fires at the same place for every single split point", () => {
    for (let cut = 1; cut < stream.length; cut++) expect(firedAt(stream, [cut]), `cut at ${cut}`).toBe(stream.length);
  });

  it("does not fire for a session that never terminates", () => {
    expect(firedAt(Buffer.concat([STARTUP, QUERY, QUERY]), [])).toBe(-1);
  });
});
