/**
 * Work a request starts that its answer does not wait for (the access cache's refresh-ahead read),
 * held until the answer is on its way. An isolate runs one thing at a time: a re-read started at
 * once (a Postgres pool, a WebSocket, a query) shares the thread with sending the upstream call
 * and, on a fast upstream, with writing the answer. Measured on an idle gateway, it added about
 * half a millisecond to the time to first byte at p50 (docs/benchmarks.md).
 *
 * The hold ends when the handler has returned its answer, or, for a relayed stream, when its first
 * bytes have gone to the client (`holdUntil`), but never later than `MAX_HOLD_MS` after the handler
 * returned: a model that takes seconds to its first token must not hold a refresh past the cache's
 * TTL (it is mid-wait then, so nothing else needs the thread). Tasks then start on the next timer
 * turn, each under the request's `waitUntil`.
 */
export const MAX_HOLD_MS = 20;

export class AfterAnswer {
  private open!: () => void;
  private readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  private firstBytes: Promise<unknown> | null = null;

  constructor(private readonly waitUntil: (p: Promise<unknown>) => void) {}

  /** Runs `task` once the answer is on its way; what it throws is its own to handle. */
  run(task: () => Promise<void>): void {
    this.waitUntil(this.opened.then(nextTurn).then(task));
  }

  /** The answer's first bytes go out later than the handler returns (a relayed stream): hold until then too. */
  holdUntil(firstBytes: Promise<unknown>): void {
    this.firstBytes = firstBytes;
  }

  /** The handler has answered: the hold ends now, or with `holdUntil`'s promise (at most `MAX_HOLD_MS` on). */
  answered(): void {
    if (!this.firstBytes) return this.open();
    const timer = setTimeout(this.open, MAX_HOLD_MS);
    const done = () => {
      clearTimeout(timer);
      this.open();
    };
    this.firstBytes.then(done, done);
  }
}

const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
