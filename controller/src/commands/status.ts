/** `flotilla status`: the fleet status report from the controller, as text, JSON or Markdown. */
import { StatusReport } from "../../../schemas/src/api.js";
import { renderStatusMarkdown, renderStatusText } from "../report/render-text.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";
import { fetchReport, type RemoteOptions } from "./remote.js";
import { watchStatus } from "./status-watch.js";
import { isTty, terminalWidth } from "./terminal.js";

const HELP = `usage: flotilla status [--controller URL] [--token T] [--json | --markdown] [--host H] [--wave W]
       flotilla status --watch [--interval SECONDS] [--controller URL] [--token T] [--host H] [--wave W]

Per host: wave, pin, desired and current revision, generation, phase, health,
last seen (STALE when unreachable), drift, failed revisions. Per rollout:
commit, PR and wave states. URL defaults to $FLOTILLA_CONTROLLER or
http://127.0.0.1:8480; the token to $FLOTILLA_TOKEN.
Exit status: 0, or 3 when a rollout is halted or a host is degraded.

Text fits the terminal: $COLUMNS, else the terminal's width, else 100
columns; long cells end in "…" (host names and revisions are kept whole).

--watch shows the current rollout live (waves, healthy counts, when the next
wave opens, failed hosts), asking the controller every --interval seconds
(default 2): redrawn in place on a terminal; on a pipe, one line each time
something changed. Controller errors are shown and retried. Ctrl-C ends it
(exit 0).
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      controller: { type: "string" }, token: { type: "string" }, json: { type: "boolean" }, markdown: { type: "boolean" },
      host: { type: "string" }, wave: { type: "string" }, watch: { type: "boolean" }, interval: { type: "string" }, help: { type: "boolean", short: "h" },
    },
  }, "status");
  if (values.help) return (io.stdout.write(HELP), 0);
  if (values.json && values.markdown) throw new UsageError("--json and --markdown are exclusive", "status");
  const q = new URLSearchParams();
  if (values.host) q.set("host", values.host);
  if (values.wave) q.set("wave", values.wave);
  const path = `/api/v1/status${q.size ? `?${q}` : ""}`;
  const remote = { controller: values.controller, token: values.token };
  if (values.interval !== undefined && !values.watch) throw new UsageError("--interval needs --watch", "status");
  if (values.watch) {
    if (values.json || values.markdown) throw new UsageError("--watch shows text only: drop --json/--markdown", "status");
    const interval = values.interval === undefined ? 2 : Number(values.interval);
    if (!/^\d+(\.\d+)?$/.test(values.interval ?? "2") || interval < 0.2 || interval > 3600) throw new UsageError(`--interval: expected seconds from 0.2 to 3600, got ${JSON.stringify(values.interval)}`, "status");
    await watchUntilInterrupted(remote, path, io, interval * 1000);
    return 0;
  }
  const report = await fetchReport(remote, path, StatusReport);
  io.stdout.write(values.json ? JSON.stringify(report, null, 2) + "\n" : values.markdown ? renderStatusMarkdown(report) : renderStatusText(report, { width: terminalWidth(io.stdout) }));
  const bad = report.rollouts[0]?.state === "halted" || report.hosts.some((h) => h.health === "Degraded");
  return bad ? 3 : 0;
}

/** Runs the watch until SIGINT (Ctrl-C) or SIGTERM; both end it cleanly. */
async function watchUntilInterrupted(remote: RemoteOptions, path: string, io: CommandIO, intervalMs: number): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const tty = isTty(io.stdout);
  try {
    await watchStatus({
      fetchStatus: () => fetchReport(remote, path, StatusReport, process.env, stop.signal),
      out: io.stdout,
      tty,
      width: () => terminalWidth(io.stdout),
      intervalMs,
      signal: stop.signal,
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (tty) io.stdout.write("\n");
  }
}
