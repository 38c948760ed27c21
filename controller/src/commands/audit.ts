/** `flotilla audit`: every transition and decision with commit, PR, author and merger. */
import { AuditReport } from "../../../schemas/src/api.js";
import { renderAuditMarkdown, renderAuditText } from "../report/render-text.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";
import { fetchReport } from "./remote.js";
import { terminalWidth } from "./terminal.js";

const HELP = `usage: flotilla audit [--controller URL] [--token T] [--since T] [--host H] [--limit N] [--json | --markdown]

--since takes a timestamp (2026-01-01T00:00:00Z) or a duration back from now (90m, 2h, 7d).
--limit N keeps the N newest entries (events and decisions together, 1-10000, default 10000),
listed oldest first. Text fits $COLUMNS (else the terminal, else 100 columns); times
are UTC to the second. Text and Markdown show agent-supplied control characters escaped (\x1b).
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      controller: { type: "string" }, token: { type: "string" }, since: { type: "string" }, host: { type: "string" }, limit: { type: "string" },
      json: { type: "boolean" }, markdown: { type: "boolean" }, help: { type: "boolean", short: "h" },
    },
  }, "audit");
  if (values.help) return (io.stdout.write(HELP), 0);
  const q = new URLSearchParams();
  if (values.since) q.set("since", values.since);
  if (values.host) q.set("host", values.host);
  if (values.limit !== undefined) {
    // checked here too, so a typo is a usage error (exit 2) rather than the controller's 400
    if (!/^\d{1,5}$/.test(values.limit) || Number(values.limit) < 1 || Number(values.limit) > 10_000) throw new UsageError(`--limit: expected an integer from 1 to 10000, got ${JSON.stringify(values.limit)}`, "audit");
    q.set("limit", values.limit);
  }
  const report = await fetchReport({ controller: values.controller, token: values.token }, `/api/v1/audit${q.size ? `?${q}` : ""}`, AuditReport);
  io.stdout.write(values.json ? JSON.stringify(report, null, 2) + "\n" : values.markdown ? renderAuditMarkdown(report) : renderAuditText(report, { width: terminalWidth(io.stdout) }));
  return 0;
}
