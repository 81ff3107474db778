import { describe, expect, it } from "vitest";
import {
  isResponseMessage,
  messageBytes,
  newResponseId,
  RESPONSE_ID,
  responseObjectKey,
  ResponseMessageSchema,
} from "../../shared/response-message.ts";
import { UsageMessageSchema } from "../../shared/usage-message.ts";
import { sampleMessage, sampleResponseMessage } from "../support/samples.ts";

describe("the response message contract", () => {
  it("accepts a message with inline bodies, and one with an object key instead", () => {
    expect(ResponseMessageSchema.safeParse(sampleResponseMessage()).success).toBe(true);
    const offloaded = sampleResponseMessage({ request_body: null, response_body: null, body_object_key: "responses/resp_x/1.json" });
    expect(ResponseMessageSchema.safeParse(offloaded).success).toBe(true);
  });

  it("refuses neither or both of body and object key, a bad id, an unknown version", () => {
    expect(ResponseMessageSchema.safeParse(sampleResponseMessage({ response_body: null })).success).toBe(false);
    expect(ResponseMessageSchema.safeParse(sampleResponseMessage({ body_object_key: "responses/k.json" })).success).toBe(false);
    expect(ResponseMessageSchema.safeParse(sampleResponseMessage({ id: "chatcmpl-1" })).success).toBe(false);
    expect(ResponseMessageSchema.safeParse({ ...sampleResponseMessage(), v: 2 }).success).toBe(false);
  });

  it("is told apart from usage messages, in both directions", () => {
    expect(isResponseMessage(sampleResponseMessage())).toBe(true);
    expect(isResponseMessage(sampleMessage())).toBe(false);
    expect(isResponseMessage("text")).toBe(false);
    expect(isResponseMessage(null)).toBe(false);
    expect(UsageMessageSchema.safeParse(sampleResponseMessage()).success).toBe(false);
  });

  it("generated ids and object keys", () => {
    const id = newResponseId();
    expect(id).toMatch(RESPONSE_ID);
    expect(newResponseId()).not.toBe(id);
    // Unique per write: an upstream reusing an id cannot overwrite another response's bodies.
    expect(responseObjectKey(id)).toMatch(new RegExp(`^responses/${id}/[0-9a-f-]{36}\\.json$`));
    expect(responseObjectKey(id)).not.toBe(responseObjectKey(id));
  });

  it("measures the serialised size in bytes, not characters", () => {
    expect(messageBytes({ a: "é" })).toBe(JSON.stringify({ a: "é" }).length + 1);
  });
});
