/**
 * Shared by `flotilla rollout` and `flotilla host`: parse one operator
 * action's command line (positionals, --reason, the controller URL/token
 * options of `flotilla status`), POST it, print what the controller recorded.
 */
import { OperatorAction } from "../../../schemas/src/api.js";
import { visible } from "../report/visible.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";
import { postJson } from "./remote.js";

export interface ActionCommand {
  /** "rollout pause" */
  name: string;
  help: string;
  /** Positional names, in order; a trailing "?" marks the optional last one. */
  args: string[];
  /** The API path and body from the positionals and the reason. */
  request(pos: string[], reason: string): { path: string; body: Record<string, string> };
}

export async function runAction(cmd: ActionCommand, argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: { controller: { type: "string" }, token: { type: "string" }, reason: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    },
    cmd.name,
  );
  if (values.help) return (io.stdout.write(cmd.help), 0);
  const required = cmd.args.filter((a) => !a.endsWith("?"));
  if (positionals.length < required.length) throw new UsageError(`missing ${required.slice(positionals.length).join(" ")}`, cmd.name);
  if (positionals.length > cmd.args.length) throw new UsageError(`unexpected argument ${positionals[cmd.args.length]}`, cmd.name);
  const reason = values.reason?.trim();
  if (!reason) throw new UsageError("--reason is required: say why (it is recorded in the audit)", cmd.name);
  const { path, body } = cmd.request(positionals, reason);
  const a = await postJson({ controller: values.controller, token: values.token }, path, body, OperatorAction);
  if (values.json) io.stdout.write(JSON.stringify(a, null, 2) + "\n");
  else {
    const what = [a.rev ? `rev ${a.rev.slice(0, 12)}` : "", a.wave ? `wave ${a.wave}` : "", a.host ? `host ${a.host}` : ""].filter(Boolean).join(", ");
    io.stdout.write(visible(`recorded action #${a.id}: ${a.action} ${what} by ${a.actor} at ${a.time}: ${a.reason}`) + "\n");
  }
  return 0;
}

/** `flotilla <group> <sub>`: dispatch to the subcommand, usage errors naming the group. */
export async function runGroup(group: string, usage: string, subs: Record<string, ActionCommand>, argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub) throw new UsageError(`expected a subcommand: ${Object.keys(subs).join(", ")}`, group);
  if (sub === "--help" || sub === "-h") return (io.stdout.write(usage), 0);
  const cmd = subs[sub];
  if (!cmd) throw new UsageError(sub.startsWith("-") ? `unknown option ${sub}` : `unknown subcommand "${sub}" (expected ${Object.keys(subs).join(", ")})`, group);
  return runAction(cmd, rest, io);
}

export const COMMON_OPTIONS = `options:
  --reason R          why (required; recorded in the audit with your token's name)
  --controller URL    default $FLOTILLA_CONTROLLER or http://127.0.0.1:8480
  --token T           an operator token with role operate; default $FLOTILLA_TOKEN
  --json              print the recorded action as JSON
REV is a commit id or an unambiguous prefix of one.
`;

export const enc = encodeURIComponent;
