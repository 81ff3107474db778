/**
 * Work a request starts that its answer does not wait for (the access cache's refresh-ahead read),
 * held until the answer is on its way. An isolate runs one thing at a time: a re-read started at
 * once (a Postgres pool, a WebSocket, a query) shared the thread with sending the upstream call
 * and, on a fast upstream, with writing the answer. On a quiet gateway that made JSON answers
 * 0.14–0.28 ms slower at p50 (docs/benchmarks.md).
 *
 * The hold ends when the handler has returned its answer, or, for a relayed stream, when its first
 * bytes have gone to the client (`holdForFirstBytes`), but never later than `MAX_HOLD_MS` after
 * the handler returned: an upstream that sends its headers and then takes seconds to its first
 * token must not hold a refresh past the cache's TTL (and the isolate is only waiting then). Tasks
 * then start on the next timer turn, each under the request's `waitUntil`.
 */
export const MAX_HOLD_MS = 20;

export class AfterAnswer {
  /** Tasks not started yet (null: none; most requests ask for none and pay nothing). */
  private tasks: (() => Promise<void>)[] | null = null;
  private answeredYet = false;
  /** Tasks wait on a release already registered with `waitUntil`. */
  private armed = false;
  /** A stream's first bytes are still to go out. */
  private holding = false;
  /** Ends an armed hold early (the first bytes went out). */
  private endHold: (() => void) | null = null;

  constructor(private readonly waitUntil: (p: Promise<unknown>) => void) {}

  /** Runs `task` once the answer is on its way; what it throws is its own to handle. */
  run(task: () => Promise<void>): void {
    (this.tasks ??= []).push(task);
    if (this.answeredYet && !this.armed) this.arm();
  }

  /**
   * The answer's first bytes go out later than the handler returns (a relayed stream): the hold
   * lasts until the returned function is called (once they have gone, or the relay has ended).
   */
  holdForFirstBytes(): () => void {
    this.holding = true;
    return () => {
      this.holding = false;
      this.endHold?.();
    };
  }

  /** The handler has answered: held tasks start now, or once the first bytes have gone (at most `MAX_HOLD_MS` on). */
  answered(): void {
    this.answeredYet = true;
    if (this.tasks) this.arm();
  }

  private arm(): void {
    this.armed = true;
    const released = new Promise<void>((resolve) => {
      if (!this.holding) return resolve();
      const end = () => {
        clearTimeout(timer);
        this.endHold = null;
        resolve();
      };
      const timer = setTimeout(end, MAX_HOLD_MS);
      this.endHold = end;
    });
    this.waitUntil(released.then(nextTurn).then(() => this.startAll()));
  }

  private async startAll(): Promise<void> {
    const tasks = this.tasks ?? [];
    this.tasks = null;
    this.armed = false;
    await Promise.all(tasks.map((task) => task()));
  }
}

const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
