import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AfterAnswer, MAX_HOLD_MS } from "../../workers/gateway/src/after-answer.ts";

describe("AfterAnswer: work held until the answer is on its way", () => {
  let kept: Promise<unknown>[];
  let started: string[];
  let after: AfterAnswer;
  beforeEach(() => {
    vi.useFakeTimers();
    kept = [];
    started = [];
    after = new AfterAnswer((p) => kept.push(p));
  });
  afterEach(() => vi.useRealTimers());

  const task = (name: string) => async () => {
    started.push(name);
  };

  it("starts nothing before the handler has answered, then every task on the next timer turn, kept alive by waitUntil", async () => {
    after.run(task("refresh a"));
    after.run(task("refresh b"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(started).toEqual([]);

    after.answered();
    expect(kept).toHaveLength(1);
    await Promise.resolve();
    expect(started).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(["refresh a", "refresh b"]);
    await Promise.all(kept);
  });

  it("a stream holds the work until its first bytes have gone out", async () => {
    const firstBytes = after.holdForFirstBytes();
    after.run(task("refresh"));
    after.answered();
    await vi.advanceTimersByTimeAsync(MAX_HOLD_MS - 1);
    expect(started).toEqual([]);
    firstBytes();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(["refresh"]);
  });

  it("a stream whose first bytes are slow (or never come) holds the work for MAX_HOLD_MS at most", async () => {
    after.holdForFirstBytes();
    after.run(task("refresh"));
    after.answered();
    await vi.advanceTimersByTimeAsync(MAX_HOLD_MS - 1);
    expect(started).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(started).toEqual(["refresh"]);
  });

  it("first bytes that went out before the handler had answered hold nothing", async () => {
    after.holdForFirstBytes()();
    after.run(task("refresh"));
    after.answered();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(["refresh"]);
  });

  it("work asked for while a stream holds waits with it", async () => {
    const firstBytes = after.holdForFirstBytes();
    after.answered();
    after.run(task("refresh"));
    expect(kept).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5);
    expect(started).toEqual([]);
    firstBytes();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(["refresh"]);
  });

  it("a request that asked for nothing holds nothing; work asked for after the answer starts on the next timer turn", async () => {
    after.answered();
    expect(kept).toEqual([]);
    after.run(task("late"));
    expect(kept).toHaveLength(1);
    expect(started).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual(["late"]);
  });
});
