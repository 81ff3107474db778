import { describe, expect, it } from "vitest";
import { EXPOSED_HEADERS, FORWARDED_HEADERS, isPassedUpstreamHeader, PASSED_UPSTREAM_HEADERS } from "../../shared/passed-headers.ts";

describe("headers that cross the gateway", () => {
  it("passes the upstream's request id, version, timing and every rate-limit header, in any case, and nothing else", () => {
    for (const name of ["x-request-id", "X-Request-Id", "openai-version", "openai-processing-ms", "x-ratelimit-remaining-tokens", "X-RateLimit-Custom"]) {
      expect(isPassedUpstreamHeader(name), name).toBe(true);
    }
    for (const name of ["set-cookie", "server", "x-mock-internal", "authorization", "www-authenticate", "x-ratelimit", "ratelimit-x"]) {
      expect(isPassedUpstreamHeader(name), name).toBe(false);
    }
  });

  it("never forwards a credential, a cookie or a hop-by-hop header upstream", () => {
    for (const name of ["authorization", "cookie", "proxy-authorization", "x-api-key", "api-key", "connection", "keep-alive", "transfer-encoding", "host", "cf-connecting-ip"]) {
      expect(FORWARDED_HEADERS).not.toContain(name);
    }
  });

  it("lets a browser read every header the gateway passes by name, and its own event id and cost", () => {
    for (const name of PASSED_UPSTREAM_HEADERS) expect(EXPOSED_HEADERS).toContain(name);
    expect(EXPOSED_HEADERS).toEqual(expect.arrayContaining(["x-tollgate-event-id", "x-tollgate-cost", "retry-after"]));
  });
});
