/**
 * A loopback stand-in for a Cloudflare Access team's key endpoint, for the sign-in tests: the
 * test (in workerd) issues its own RSA keys and PUTs the public JWKS here; the gateway fetches it
 * from `/cdn-cgi/access/certs` (via `ACCESS_CERTS_URL`); `/__count` says how often it did.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export async function startJwksServer(): Promise<{ url: string; close: () => Promise<void> }> {
  let keys = '{"keys":[]}';
  let fetches = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const json = (status: number, body: string): void => void res.writeHead(status, { "content-type": "application/json" }).end(body);
      if (req.method === "PUT" && req.url === "/keys") {
        keys = Buffer.concat(chunks).toString("utf8");
        json(200, keys);
      } else if (req.method === "GET" && req.url === "/cdn-cgi/access/certs") {
        fetches++;
        json(200, keys);
      } else if (req.method === "GET" && req.url === "/__count") json(200, JSON.stringify({ fetches }));
      else json(404, "{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
