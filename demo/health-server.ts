/**
 * The stand-in health endpoint as its own process (so `--keep` can leave it
 * running): test/helpers/health-server.ts on 127.0.0.1, serving
 * GET /health/<host> from the fixture state dir the stand-in systems write.
 *
 *   node --import tsx demo/health-server.ts <fixture state dir>
 */
import { startHealthServer } from "../test/helpers/health-server.js";

const stateDir = process.argv[2];
if (!stateDir) {
  process.stderr.write("usage: health-server.ts <fixture state dir>\n");
  process.exit(2);
}
const server = await startHealthServer(stateDir);
process.stdout.write(`health server listening on ${server.url}\n`);
const stop = () => void server.close().finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
