/**
 * `COPY … FROM STDIN` over node-postgres without pg-copy-streams: a Submittable that sends the
 * COPY statement, answers CopyInResponse with the whole payload as CopyData + CopyDone, and settles
 * on ReadyForQuery. node-postgres already routes these protocol events to the active query; this
 * is the ~30 lines pg-copy-streams would add for the non-streaming case, which is all a benchmark
 * floor needs (the payload is built in memory before the clock starts).
 */
import type pg from "pg";

/** The slice of pg's internal Connection a Submittable receives. */
interface WireConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

class CopyIn {
  private error: Error | undefined;
  constructor(
    private readonly sql: string,
    private readonly payload: Buffer,
    private readonly settle: (err?: Error) => void,
  ) {}
  submit(connection: WireConnection): void {
    connection.query(this.sql);
  }
  handleCopyInResponse(connection: WireConnection): void {
    if (this.payload.length > 0) connection.sendCopyFromChunk(this.payload);
    connection.endCopyFrom();
  }
  handleError(err: Error): void {
    this.error = err;
  }
  handleReadyForQuery(): void {
    this.settle(this.error);
  }
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
}

export function copyFrom(client: pg.Client, sql: string, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const submittable = new CopyIn(sql, payload, (err) => (err ? reject(err) : resolve()));
    // pg accepts any object with submit(); its typings only know its own Submittable shape.
    (client as unknown as { query(s: CopyIn): void }).query(submittable);
  });
}

/** One value in COPY's text format: \N for NULL, backslash escapes for the separators. */
export function copyValue(value: unknown): string {
  if (value === null || value === undefined) return "\\N";
  if (typeof value === "boolean") return value ? "t" : "f";
  return String(value).replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
}

/** Column arrays (as the UNNEST builders produce them) → COPY text rows. */
export function copyPayload(columns: readonly unknown[][]): Buffer {
  const rows = columns[0]?.length ?? 0;
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) lines.push(columns.map((col) => copyValue(col[r])).join("\t"));
  return Buffer.from(lines.length ? lines.join("\n") + "\n" : "", "utf8");
}
