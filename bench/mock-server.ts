/**
 * The mock upstream as its own process, so benchmark clients and the model server do not share
 * an event loop. Prints `MOCK_URL=<url>` once listening; stops on SIGTERM or when stdin closes.
 */
import { startMockUpstream } from "../dev/mock-upstream.ts";

const mock = await startMockUpstream();
console.log(`MOCK_URL=${mock.url}`);
const stop = () => void mock.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
