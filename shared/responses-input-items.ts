/**
 * `GET /ai/v1/responses/{id}/input_items`: a stored request's `input` as OpenAI's paginated list
 * of input items (`{object: "list", data, first_id, last_id, has_more}`), with `after`, `limit`
 * and `order` as OpenAI defines them (newest first by default).
 *
 * Stored items carry no ids when the client sent none (a string input, easy messages): they get
 * stable ones derived from the response id and position, so `after` pages reliably. Easy input
 * messages are given their full shape (`type: "message"`, content parts, `status`).
 */
import * as z from "zod";

type Json = Record<string, unknown>;

export const InputItemsQuerySchema = z.object({
  after: z.string().min(1).optional().describe("An item id: list the items after it"),
  limit: z.coerce.number().int().min(1).max(100).optional().default(20).describe("1 to 100 (default 20)"),
  order: z.enum(["asc", "desc"]).optional().default("desc").describe("`desc` (default, newest first) or `asc`"),
});
export type InputItemsQuery = z.infer<typeof InputItemsQuerySchema>;

export interface InputItemsPage {
  object: "list";
  data: Json[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** A message's content as parts: text becomes `input_text` (or `output_text` for the assistant). */
function contentParts(role: unknown, content: unknown): unknown {
  if (typeof content !== "string") return content;
  return [role === "assistant" ? { type: "output_text", text: content, annotations: [] } : { type: "input_text", text: content }];
}

/** The stored request's input items in full shape, each with an id (in input order). */
export function storedInputItems(responseId: string, input: unknown): Json[] {
  const raw: unknown[] = typeof input === "string" ? [{ role: "user", content: input }] : Array.isArray(input) ? input : [];
  const tail = responseId.replace(/^resp_/, "");
  return raw
    .filter((item): item is Json => typeof item === "object" && item !== null && !Array.isArray(item))
    .map((item, index) => {
      const isMessage = item.type === "message" || (item.type === undefined && "role" in item);
      const id = typeof item.id === "string" && item.id !== "" ? item.id : `${isMessage ? "msg" : "item"}_${tail}_${index}`;
      if (!isMessage) return { ...item, id };
      return { id, type: "message", role: item.role, content: contentParts(item.role, item.content), status: typeof item.status === "string" ? item.status : "completed" };
    });
}

/**
 * One page of `items` (in input order). `after` names an item id: the page starts after it in the
 * chosen order; an id not among the items gives an empty page.
 */
export function pageInputItems(items: readonly Json[], query: InputItemsQuery): InputItemsPage {
  const ordered = query.order === "asc" ? [...items] : [...items].reverse();
  let start = 0;
  if (query.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.after);
    start = at === -1 ? ordered.length : at + 1;
  }
  const data = ordered.slice(start, start + query.limit);
  return {
    object: "list",
    data,
    first_id: (data[0]?.id as string | undefined) ?? null,
    last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
    has_more: start + query.limit < ordered.length,
  };
}
