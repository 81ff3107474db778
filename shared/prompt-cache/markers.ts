/**
 * Prompt-cache markers on chat completion requests:
 * `cache_control: {"type": "ephemeral", "ttl": "5m" | "1h" | "24h"}` on message content blocks,
 * tool definitions, assistant tool calls, a message, or the request itself (the "automatic"
 * breakpoint at the end of the prompt). At most 4 breakpoints.
 *
 * `parsePrompt` validates every marker (before anything is forwarded), strips them all from the
 * body, and returns the prompt as a canonical sequence of blocks — tools first, then each
 * message's blocks — with the breakpoints as block positions.
 */
export const TIERS = ["5m", "1h", "24h"] as const;
export type Tier = (typeof TIERS)[number];

export const TIER_SECONDS: Record<Tier, number> = { "5m": 300, "1h": 3600, "24h": 86_400 };
export const MAX_BREAKPOINTS = 4;
/** How many blocks before a breakpoint a read may match (as Anthropic's caching does). */
export const READ_LOOKBACK_BLOCKS = 20;

export interface TierPolicy {
  enabled: readonly Tier[];
  defaultTtl: Tier;
}

/** One unit of the prompt: who said it and what, without its marker. */
export interface PromptBlock {
  role: string;
  /** Message-level identity that changes the meaning of the block (tool call id, name). */
  meta?: Record<string, string>;
  part: unknown;
}

export interface Breakpoint {
  /** Index of the last block the breakpoint covers. */
  block: number;
  tier: Tier;
}

export interface ParsedPrompt {
  blocks: PromptBlock[];
  breakpoints: Breakpoint[];
  /** The body with every marker removed (the same object when there were none). */
  stripped: Record<string, unknown>;
  hadMarkers: boolean;
}

export class CacheControlError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = "CacheControlError";
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates one marker and returns its tier. */
function readMarker(marker: unknown, param: string, policy: TierPolicy): Tier {
  const enabled = `Enabled cache tiers: ${policy.enabled.join(", ") || "none"}.`;
  if (!isRecord(marker)) throw new CacheControlError(`cache_control must be an object like {"type": "ephemeral"}. ${enabled}`, param);
  const extra = Object.keys(marker).filter((k) => k !== "type" && k !== "ttl");
  if (extra.length > 0) throw new CacheControlError(`cache_control has unknown field(s): ${extra.join(", ")}. ${enabled}`, param);
  if (marker.type !== "ephemeral") {
    throw new CacheControlError(`cache_control.type must be "ephemeral", got ${JSON.stringify(marker.type)}. ${enabled}`, param);
  }
  const ttl = marker.ttl ?? policy.defaultTtl;
  if (typeof ttl !== "string" || !(TIERS as readonly string[]).includes(ttl)) {
    throw new CacheControlError(`cache_control.ttl must be one of ${TIERS.join(", ")}, got ${JSON.stringify(marker.ttl)}. ${enabled}`, param);
  }
  if (!policy.enabled.includes(ttl as Tier)) {
    throw new CacheControlError(`The ${ttl} cache tier is not enabled on this gateway. ${enabled}`, param);
  }
  return ttl as Tier;
}

function without<T extends Record<string, unknown>>(obj: T, key: string): T {
  if (!(key in obj)) return obj;
  const copy = { ...obj };
  delete copy[key];
  return copy;
}

/**
 * @throws CacheControlError for a malformed marker, a bad type or ttl, a disabled tier, or more
 *   than MAX_BREAKPOINTS breakpoints.
 */
export function parsePrompt(body: Record<string, unknown>, policy: TierPolicy): ParsedPrompt {
  const blocks: PromptBlock[] = [];
  const breakpoints: Breakpoint[] = [];
  let hadMarkers = false;
  const mark = (marker: unknown, param: string) => {
    hadMarkers = true;
    breakpoints.push({ block: blocks.length - 1, tier: readMarker(marker, param, policy) });
  };

  let tools = body.tools;
  if (Array.isArray(tools)) {
    tools = tools.map((tool: unknown, i) => {
      if (!isRecord(tool)) {
        blocks.push({ role: "tool_definition", part: tool });
        return tool;
      }
      const clean = without(tool, "cache_control");
      blocks.push({ role: "tool_definition", part: clean });
      if ("cache_control" in tool) mark(tool.cache_control, `tools[${i}].cache_control`);
      return clean;
    });
  }

  let messages = body.messages;
  if (Array.isArray(messages)) {
    messages = messages.map((message: unknown, i) => {
      if (!isRecord(message)) {
        blocks.push({ role: "unknown", part: message });
        return message;
      }
      const role = typeof message.role === "string" ? message.role : "unknown";
      const meta: Record<string, string> = {};
      for (const k of ["name", "tool_call_id"]) if (typeof message[k] === "string") meta[k] = message[k] as string;
      const block = (part: unknown): PromptBlock => (Object.keys(meta).length ? { role, meta, part } : { role, part });
      let out = without(message, "cache_control");

      if (typeof message.content === "string") {
        blocks.push(block({ type: "text", text: message.content }));
      } else if (Array.isArray(message.content)) {
        const content = message.content.map((part: unknown, j) => {
          if (!isRecord(part)) {
            blocks.push(block(part));
            return part;
          }
          const clean = without(part, "cache_control");
          blocks.push(block(clean));
          if ("cache_control" in part) mark(part.cache_control, `messages[${i}].content[${j}].cache_control`);
          return clean;
        });
        out = { ...out, content };
      }
      if (Array.isArray(message.tool_calls)) {
        const calls = message.tool_calls.map((call: unknown, j) => {
          if (!isRecord(call)) {
            blocks.push({ role: "assistant_tool_call", part: call });
            return call;
          }
          const clean = without(call, "cache_control");
          blocks.push({ role: "assistant_tool_call", part: clean });
          if ("cache_control" in call) mark(call.cache_control, `messages[${i}].tool_calls[${j}].cache_control`);
          return clean;
        });
        out = { ...out, tool_calls: calls };
      }
      // A marker on the message itself covers its last block.
      if ("cache_control" in message) mark(message.cache_control, `messages[${i}].cache_control`);
      return out;
    });
  }

  let stripped: Record<string, unknown> = body;
  if (hadMarkers || "cache_control" in body) {
    stripped = { ...without(body, "cache_control") };
    if (tools !== undefined) stripped.tools = tools;
    if (messages !== undefined) stripped.messages = messages;
  }
  if ("cache_control" in body) mark(body.cache_control, "cache_control"); // automatic: end of prompt

  if (breakpoints.length > MAX_BREAKPOINTS) {
    throw new CacheControlError(
      `At most ${MAX_BREAKPOINTS} cache_control breakpoints are allowed; this request has ${breakpoints.length}. Enabled cache tiers: ${policy.enabled.join(", ") || "none"}.`,
      "messages[].content[].cache_control",
    );
  }
  // A marker on an empty prompt position (e.g. automatic marker with no blocks) covers nothing.
  return { blocks, breakpoints: breakpoints.filter((b) => b.block >= 0), stripped, hadMarkers };
}
