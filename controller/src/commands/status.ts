/** `flotilla status`: the fleet status report from the controller, as text, JSON or Markdown. */
import { StatusReport } from "../../../schemas/src/api.js";
import { renderStatusMarkdown, renderStatusText } from "../report/render-text.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";
import { fetchReport } from "./remote.js";

const HELP = `usage: flotilla status [--controller URL] [--token T] [--json | --markdown] [--host H] [--wave W]

Per host: wave, pin, desired and current revision, generation, phase, health,
last seen (STALE when unreachable), drift, failed revisions. Per rollout:
commit, PR and wave states. URL defaults to $FLOTILLA_CONTROLLER or
http://127.0.0.1:8480; the token to $FLOTILLA_TOKEN.
Exit status: 0, or 3 when a rollout is halted or a host is degraded.
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      controller: { type: "string" }, token: { type: "string" }, json: { type: "boolean" }, markdown: { type: "boolean" },
      host: { type: "string" }, wave: { type: "string" }, help: { type: "boolean", short: "h" },
    },
  }, "status");
  if (values.help) return (io.stdout.write(HELP), 0);
  if (values.json && values.markdown) throw new UsageError("--json and --markdown are exclusive", "status");
  const q = new URLSearchParams();
  if (values.host) q.set("host", values.host);
  if (values.wave) q.set("wave", values.wave);
  const report = await fetchReport({ controller: values.controller, token: values.token }, `/api/v1/status${q.size ? `?${q}` : ""}`, StatusReport);
  io.stdout.write(values.json ? JSON.stringify(report, null, 2) + "\n" : values.markdown ? renderStatusMarkdown(report) : renderStatusText(report));
  const bad = report.rollouts[0]?.state === "halted" || report.hosts.some((h) => h.health === "Degraded");
  return bad ? 3 : 0;
}
