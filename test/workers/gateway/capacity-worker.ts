/**
 * A worker that runs only the gateway's capacity leases, for `test/unit/capacity-isolates.test.ts`
 * (bundled there): two copies of it run as two isolates sharing one ConcurrencyLimiter object.
 * `GET /?model=&cap=&hold=` takes a slot of `model` (capacity `cap`), holds it for `hold` ms as a
 * request in flight would, gives it back and answers 200 — or the gateway's 429 when none is free.
 * `GET /in-flight?model=` is what the object holds now.
 */
import { ApiError } from "../../../shared/errors.ts";
import { acquireSlot, atCapacity, ConcurrencyLimiter } from "../../../workers/gateway/src/capacity.ts";

export { ConcurrencyLimiter };

interface Env {
  CONCURRENCY_LIMITER: DurableObjectNamespace<ConcurrencyLimiter>;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const model = url.searchParams.get("model") ?? "m";
    const ns = env.CONCURRENCY_LIMITER;
    if (url.pathname === "/in-flight") return Response.json(await ns.get(ns.idFromName(`model:${model}`)).inFlight());
    try {
      const lease = await acquireSlot(ns, model, Number(url.searchParams.get("cap")), (p) => ctx.waitUntil(p));
      if (!lease) throw atCapacity(model);
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get("hold") ?? "0")));
      lease.release();
      return new Response("ok");
    } catch (err) {
      if (err instanceof ApiError) return err.toResponse();
      throw err;
    }
  },
} satisfies ExportedHandler<Env>;
