/** `flotilla logs HOST`: the output tails of a host's deploy steps, as the controller keeps them. */
import { HostLogs } from "../../../schemas/src/api.js";
import { renderHostLogsText } from "../report/render-logs.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";
import { fetchReport } from "./remote.js";

const HELP = `usage: flotilla logs HOST [--controller URL] [--token T] [--rev REV] [--limit N] [--json]

The redacted, capped output tails (build, activation, hooks, command checks,
rollback) the agent of HOST sent with its transitions, oldest first; the
controller keeps the newest limits.logTailsPerHost (default 50) per host.
--rev REV   only transitions about this revision (a commit id or a prefix of
            at least 4 hex digits)
--limit N   the N newest entries (1-1000, default 20)
--json      {host, entries: [{time, seq, rev, phase, outcome, step, text, truncated}]}, newest first
URL defaults to $FLOTILLA_CONTROLLER or http://127.0.0.1:8480; the token to
$FLOTILLA_TOKEN (a read token is enough).
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    allowPositionals: true,
    options: {
      controller: { type: "string" }, token: { type: "string" }, rev: { type: "string" }, limit: { type: "string" },
      json: { type: "boolean" }, help: { type: "boolean", short: "h" },
    },
  }, "logs");
  if (values.help) return (io.stdout.write(HELP), 0);
  if (positionals.length === 0) throw new UsageError("missing HOST", "logs");
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]}`, "logs");
  const host = positionals[0]!;
  if (values.limit !== undefined && !/^\d{1,4}$/.test(values.limit)) throw new UsageError(`--limit: expected an integer from 1 to 1000, got ${JSON.stringify(values.limit)}`, "logs");
  if (values.limit !== undefined && (Number(values.limit) < 1 || Number(values.limit) > 1000)) throw new UsageError(`--limit: expected an integer from 1 to 1000, got ${values.limit}`, "logs");
  if (values.rev !== undefined && !/^[0-9a-fA-F]{4,40}$/.test(values.rev)) throw new UsageError(`--rev: expected a commit id or a prefix of at least 4 hex digits, got ${JSON.stringify(values.rev)}`, "logs");
  const q = new URLSearchParams();
  if (values.rev) q.set("rev", values.rev);
  if (values.limit) q.set("limit", values.limit);
  const logs = await fetchReport({ controller: values.controller, token: values.token }, `/api/v1/hosts/${encodeURIComponent(host)}/logs${q.size ? `?${q}` : ""}`, HostLogs);
  io.stdout.write(values.json ? JSON.stringify(logs, null, 2) + "\n" : renderHostLogsText(logs));
  return 0;
}
