/**
 * `previous_response_id`, served from Tollgate's own store: the request is expanded into the whole
 * conversation before it is forwarded, so the upstream (which never saw the earlier turn, and may
 * only speak chat completions) needs no memory of its own.
 *
 *   input  = the previous request's input items
 *          + the previous response's output (assistant messages and function calls, as input items)
 *          + this request's input
 *
 * As in OpenAI's API, the previous turn's `instructions` are not carried over. Because the stored
 * request is itself already expanded, one hop back is the whole conversation.
 */
type Json = Record<string, unknown>;

export class ConversationError extends Error {}

/** A request's `input` as a list of items (a string is one user message). */
function inputItems(input: unknown): unknown[] {
  if (input === undefined || input === null) return [];
  if (typeof input === "string") return [{ type: "message", role: "user", content: input }];
  if (Array.isArray(input)) return input;
  throw new ConversationError("the stored request's input is neither text nor a list of items");
}

/**
 * The previous response's output as input items. Server-side ids and statuses are dropped (the
 * upstream never issued them); reasoning and other item kinds are not replayed.
 */
function outputAsInput(output: unknown): unknown[] {
  if (!Array.isArray(output)) return [];
  const items: unknown[] = [];
  for (const item of output as Json[]) {
    if (item?.type === "message" && Array.isArray(item.content)) {
      const content = (item.content as Json[]).filter((part) => part?.type === "output_text").map((part) => ({ type: "output_text", text: String(part.text ?? "") }));
      if (content.length > 0) items.push({ type: "message", role: typeof item.role === "string" ? item.role : "assistant", content });
    } else if (item?.type === "function_call" && typeof item.call_id === "string" && typeof item.name === "string") {
      items.push({ type: "function_call", call_id: item.call_id, name: item.name, arguments: typeof item.arguments === "string" ? item.arguments : "{}" });
    }
  }
  return items;
}

/** The request to forward: the conversation so far plus this turn, without `previous_response_id`. */
export function continueConversation(body: Json, previousRequest: Json, previousResponse: Json): Json {
  const { previous_response_id: _previous, ...rest } = body;
  return { ...rest, input: [...inputItems(previousRequest.input), ...outputAsInput(previousResponse.output), ...inputItems(body.input)] };
}
