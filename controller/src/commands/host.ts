/** `flotilla host retry HOST [REV]`, `flotilla host hold|release HOST`: operator actions on a host. */
import { COMMON_OPTIONS, enc, runGroup, type ActionCommand } from "./operator-action.js";
import type { CommandIO } from "./io.js";

const USAGE = `usage:
  flotilla host retry HOST [REV] --reason R   the agent forgets failed REV (default: its latest) and tries again
  flotilla host hold HOST --reason R          keep HOST on what it runs until released
  flotilla host release HOST --reason R       undo a hold
${COMMON_OPTIONS}`;

const hostCmd = (kind: "hold" | "release", text: string): ActionCommand => ({
  name: `host ${kind}`,
  help: `usage: flotilla host ${kind} HOST --reason R [--controller URL] [--token T] [--json]\n\n${text}\n\n${COMMON_OPTIONS}`,
  args: ["HOST"],
  request: ([host], reason) => ({ path: `/api/v1/hosts/${enc(host!)}/${kind}`, body: { reason } }),
});

export const SUBCOMMANDS: Record<string, ActionCommand> = {
  retry: {
    name: "host retry",
    help: `usage: flotilla host retry HOST [REV] --reason R [--controller URL] [--token T] [--json]\n\nThe agent on HOST forgets that REV failed (default: the host's latest failed\nrevision) at its next gate or watch answer, and leaves rollbackFailed by rolling\nback again. It then deploys what the branch, fleet file and gates give it —\nnothing else. Applied once: if REV fails again, it stays failed.\n\n${COMMON_OPTIONS}`,
    args: ["HOST", "REV?"],
    request: ([host, rev], reason) => ({ path: `/api/v1/hosts/${enc(host!)}/retry`, body: { reason, ...(rev ? { rev } : {}) } }),
  },
  hold: hostCmd("hold", "Hold HOST on what it runs, whatever the branch says, until `flotilla host release`.\nIts gate answers held; pinned and first-wave hosts obey it too."),
  release: hostCmd("release", "Release a held host: it follows the branch, pins and gates again."),
};

export function run(argv: string[], io: CommandIO): Promise<number> {
  return runGroup("host", USAGE, SUBCOMMANDS, argv, io);
}
