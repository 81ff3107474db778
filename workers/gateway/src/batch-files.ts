/**
 * The Files API (OpenAI's, for batches): `POST /ai/v1/files` takes a JSONL file with
 * `purpose: "batch"`, checks it line by line (a bad file is a 400 naming its first bad line) while
 * streaming its bytes into R2 (BATCH_FILES) and its metadata in `batch_files`; list, get, content
 * and delete serve the owner only (another owner's id is a 404 like an unknown one). Output and
 * error files the runner writes are files of the same owner with purpose `batch_output`.
 */
import type { Context } from "hono";
import { BatchLineError, LineSplitter, parseBatchLine } from "../../../shared/batch-jsonl.ts";
import { FILE_ID, newFileId } from "../../../shared/batch-message.ts";
import type { Pool } from "../../../shared/db.ts";
import { ApiError } from "../../../shared/errors.ts";
import { multipartBoundary, MultipartError, readMultipart } from "../../../shared/multipart.ts";
import { authenticateInference, type RequestDb } from "./access.ts";
import { listAllowedModels, type KeyRecord } from "./lookups.ts";
import type { GatewayApp } from "./types.ts";

type Ctx = Context<GatewayApp>;

/** Longest line of an input file: one request's JSON. */
export const BATCH_LINE_MAX_BYTES = 10 * 1024 * 1024;

export interface FileRow {
  id: string;
  user_id: string;
  purpose: string;
  filename: string;
  bytes: string | number;
  line_count: number;
  urls: string[];
  object_key: string;
  created_at: Date | string;
}

export const fileObjectKey = (id: string) => `files/${id}`;

/** OpenAI's file object. */
export function fileObject(row: FileRow) {
  return {
    id: row.id,
    object: "file" as const,
    bytes: Number(row.bytes),
    created_at: Math.floor(new Date(row.created_at).getTime() / 1000),
    filename: row.filename,
    purpose: row.purpose,
    status: "processed" as const,
    status_details: null,
    expires_at: null,
  };
}

export function fileNotFound(id: string, param: string | null = null): ApiError {
  return new ApiError("not_found", `No file with id '${id.slice(0, 64)}'.`, { param });
}

/** The owner's live file `id`, or null (unknown, deleted, another owner's, or not an id). */
export async function findOwnedFile(pool: Pool, userId: string, id: string): Promise<FileRow | null> {
  if (!FILE_ID.test(id)) return null;
  const { rows } = await pool.query<FileRow>("SELECT * FROM batch_files WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL", [id, userId]);
  return rows[0] ?? null;
}

/** Authenticates the caller and runs `fn` with its key and the request's database handle. */
export async function withCaller(c: Ctx, fn: (key: KeyRecord, db: RequestDb) => Promise<Response>): Promise<Response> {
  const db = c.get("database");
  return fn(await authenticateInference(c.req.header("authorization"), db, c.get("config")), db);
}

/**
 * Checks an input file line by line as its bytes arrive: every line a valid request, `custom_id`s
 * unique, every model one the key's owner may use. Throws a 400 naming the first bad line.
 */
class FileChecker {
  private readonly ids = new Set<string>();
  private readonly urlSet = new Set<string>();
  private readonly splitter = new LineSplitter(BATCH_LINE_MAX_BYTES);
  lines = 0;

  constructor(private readonly allowedModels: ReadonlySet<string>) {}

  push(bytes: Uint8Array): void {
    this.guard(() => this.splitter.push(bytes).forEach((l) => this.check(l.text, l.line)));
  }

  /** The end of the file: its last line, and at least one request. */
  finish(): { lines: number; urls: string[] } {
    this.guard(() => this.splitter.finish().forEach((l) => this.check(l.text, l.line)));
    if (this.lines === 0) throw new ApiError("invalid_request_error", "The file has no requests.", { param: "file" });
    return { lines: this.lines, urls: [...this.urlSet] };
  }

  private check(text: string, line: number): void {
    const parsed = parseBatchLine(text, line);
    if (!parsed) return;
    if (this.ids.has(parsed.custom_id)) throw new BatchLineError(line, `the custom_id '${parsed.custom_id.slice(0, 64)}' is used by an earlier line; each must be unique.`);
    if (!this.allowedModels.has(parsed.model)) throw new BatchLineError(line, `the model '${parsed.model.slice(0, 64)}' does not exist or your key cannot use it.`);
    this.ids.add(parsed.custom_id);
    this.urlSet.add(parsed.url);
    this.lines++;
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (err instanceof BatchLineError) throw new ApiError("invalid_request_error", err.message, { param: "file" });
      throw err;
    }
  }
}

/** R2 multipart upload part size: every part but the last must have it (and R2's minimum is 5 MiB). */
const UPLOAD_PART_BYTES = 10 * 1024 * 1024;

/**
 * The file part's bytes into R2 as they arrive, in parts of UPLOAD_PART_BYTES: memory holds at
 * most one part, whatever the file's size.
 */
class PartWriter {
  private readonly parts: R2UploadedPart[] = [];
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  bytes = 0;

  constructor(private readonly upload: R2MultipartUpload) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.bytes += chunk.length;
    while (this.pendingBytes >= UPLOAD_PART_BYTES) await this.flush(UPLOAD_PART_BYTES);
  }

  async complete(): Promise<void> {
    if (this.pendingBytes > 0 || this.parts.length === 0) await this.flush(this.pendingBytes);
    await this.upload.complete(this.parts);
  }

  private async flush(size: number): Promise<void> {
    const part = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const head = this.pending[0]!;
      const take = Math.min(head.length, size - at);
      part.set(head.subarray(0, take), at);
      at += take;
      if (take === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(take);
    }
    this.pendingBytes -= size;
    this.parts.push(await this.upload.uploadPart(this.parts.length + 1, part));
  }
}

/**
 * POST /ai/v1/files (multipart: `file`, `purpose`). Streamed: the body is read part by part, the
 * file checked line by line and written to R2 as it arrives; a bad file, a missing `file` or a
 * `purpose` other than "batch" (which may come after the file) aborts the upload.
 */
export async function handleUploadFile(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => {
    const max = c.get("config").BATCH_FILE_MAX_BYTES;
    const length = Number(c.req.header("content-length") ?? "0");
    // The multipart envelope adds a little around the file itself.
    if (length > max + 64 * 1024) throw new ApiError("request_too_large", `Files may be at most ${max} bytes.`);
    const boundary = multipartBoundary(c.req.header("content-type"));
    const body = c.req.raw.body;
    if (!boundary || !body) throw new ApiError("unsupported_media_type", "Upload the file as multipart/form-data with the fields 'file' and 'purpose'.");

    const checker = new FileChecker(new Set((await listAllowedModels(db.get(), key.userId)).map((m) => m.alias)));
    const id = newFileId();
    let upload: R2MultipartUpload | null = null;
    let writer: PartWriter | null = null;
    let filename = "upload.jsonl";
    let purpose = "";
    let field: "file" | "purpose" | null = null;
    try {
      for await (const event of readMultipart(body, boundary)) {
        if (event.kind === "part") {
          field = event.name === "file" && event.filename !== null ? "file" : event.name === "purpose" ? "purpose" : null;
          if (field === "file") {
            if (upload) throw new ApiError("invalid_request_error", "Send one file per upload.", { param: "file" });
            filename = event.filename!.replace(/[\u0000-\u001f\u007f]/g, "").slice(0, 255) || filename;
            upload = await c.env.BATCH_FILES.createMultipartUpload(fileObjectKey(id), { httpMetadata: { contentType: "application/jsonl" } });
            writer = new PartWriter(upload);
          }
        } else if (event.kind === "data") {
          if (field === "purpose") {
            purpose += new TextDecoder().decode(event.bytes);
            if (purpose.length > 64) throw new ApiError("invalid_request_error", "'purpose' must be \"batch\".", { param: "purpose" });
          } else if (field === "file" && writer) {
            if (writer.bytes + event.bytes.length > max) throw new ApiError("request_too_large", `Files may be at most ${max} bytes.`);
            checker.push(event.bytes);
            await writer.write(event.bytes);
          }
        } else {
          field = null;
        }
      }
      if (purpose !== "batch") throw new ApiError("invalid_request_error", "'purpose' must be \"batch\" (the only purpose this gateway stores files for).", { param: "purpose" });
      if (!writer) throw new ApiError("invalid_request_error", "'file' must be a file.", { param: "file" });
      const checked = checker.finish();
      await writer.complete();
      const { rows } = await db.get().query<FileRow>(
        `INSERT INTO batch_files (id, user_id, api_key_id, purpose, filename, bytes, line_count, urls, object_key)
         VALUES ($1, $2, $3, 'batch', $4, $5, $6, $7, $8) RETURNING *`,
        [id, key.userId, key.id, filename, writer.bytes, checked.lines, checked.urls, fileObjectKey(id)],
      );
      return c.json(fileObject(rows[0]!));
    } catch (err) {
      if (upload) await upload.abort().catch(() => {});
      if (err instanceof MultipartError) throw new ApiError("invalid_request_error", `The multipart body could not be read: ${err.message}.`);
      throw err;
    }
  });
}

/** GET /ai/v1/files (`purpose`, `limit` ≤ 10,000, `after`, `order`). */
export async function handleListFiles(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => {
    const limitText = c.req.query("limit") ?? "10000";
    const limit = /^\d{1,5}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= 10_000)) throw new ApiError("invalid_request_error", "'limit' must be an integer from 1 to 10000.", { param: "limit" });
    const order = c.req.query("order") ?? "desc";
    if (order !== "asc" && order !== "desc") throw new ApiError("invalid_request_error", "'order' must be asc or desc.", { param: "order" });
    const purpose = c.req.query("purpose") ?? null;
    const after = c.req.query("after") ?? null;
    const pool = db.get();
    const cursor = after ? await findOwnedFile(pool, key.userId, after) : null;
    if (after && !cursor) throw fileNotFound(after, "after");
    const cmp = order === "desc" ? "<" : ">";
    const { rows } = await pool.query<FileRow>(
      `SELECT * FROM batch_files
        WHERE user_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR purpose = $2)
          AND ($3::timestamptz IS NULL OR (created_at, id) ${cmp} ($3::timestamptz, $4::text))
        ORDER BY created_at ${order}, id ${order} LIMIT $5`,
      [key.userId, purpose, cursor ? new Date(cursor.created_at).toISOString() : null, cursor?.id ?? null, limit + 1],
    );
    const data = rows.slice(0, limit).map(fileObject);
    return c.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: rows.length > limit });
  });
}

export async function handleGetFile(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => {
    const id = c.req.param("id") ?? "";
    const row = await findOwnedFile(db.get(), key.userId, id);
    if (!row) throw fileNotFound(id);
    return c.json(fileObject(row));
  });
}

export async function handleFileContent(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => {
    const id = c.req.param("id") ?? "";
    const row = await findOwnedFile(db.get(), key.userId, id);
    if (!row) throw fileNotFound(id);
    const object = await c.env.BATCH_FILES.get(row.object_key);
    if (!object) throw fileNotFound(id);
    return new Response(object.body, { headers: { "content-type": "application/jsonl", "content-length": String(object.size) } });
  });
}

/** DELETE /ai/v1/files/{id}: the row is kept (batches name it), marked deleted; the bytes go. */
export async function handleDeleteFile(c: Ctx): Promise<Response> {
  return withCaller(c, async (key, db) => {
    const id = c.req.param("id") ?? "";
    if (!FILE_ID.test(id)) throw fileNotFound(id);
    const { rows } = await db.get().query<{ object_key: string }>(
      "UPDATE batch_files SET deleted_at = now() WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL RETURNING object_key",
      [id, key.userId],
    );
    if (!rows[0]) throw fileNotFound(id);
    await c.env.BATCH_FILES.delete(rows[0].object_key);
    return c.json({ id, object: "file", deleted: true });
  });
}
