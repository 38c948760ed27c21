/** `flotilla serve --config controller.yaml [--database URL] [--listen host:port]`: runs the controller. */
import { createLogger } from "../../../common/src/log.js";
import { loadConfigFile } from "../config.js";
import { startController } from "../server.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";

const HELP = `usage: flotilla serve --config controller.yaml [--database sqlite:<path>|postgres://…] [--listen host:port]

Runs the controller: follows the fleet repo, ingests signed agent reports,
gates waves, serves the status/audit API, the dashboard and /metrics.
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: { config: { type: "string", short: "c" }, database: { type: "string" }, listen: { type: "string" }, help: { type: "boolean", short: "h" } } }, "serve");
  if (values.help) return (io.stdout.write(HELP), 0);
  if (!values.config) throw new UsageError("--config is required", "serve");
  const config = await loadConfigFile(values.config);
  if (values.database) config.database = values.database;
  if (values.listen) {
    const i = values.listen.lastIndexOf(":");
    config.listenHost = values.listen.slice(0, i);
    config.listenPort = Number(values.listen.slice(i + 1));
  }
  const log = createLogger({ component: "controller", level: config.logLevel, format: config.logFormat, write: (l) => io.stderr.write(l + "\n") });
  const c = await startController(config, { log });
  io.stdout.write(`flotilla controller listening on ${c.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  log.info("shutting down");
  await c.stop();
  return 0;
}
