/** `flotilla rollout pause|resume|abort REV`, `flotilla rollout approve REV WAVE`: operator actions on a rollout. */
import { COMMON_OPTIONS, enc, runGroup, type ActionCommand } from "./operator-action.js";
import type { CommandIO } from "./io.js";

const USAGE = `usage:
  flotilla rollout pause REV --reason R     no wave opens and no host starts REV until resumed (hosts mid-deploy finish)
  flotilla rollout resume REV --reason R    undo a pause
  flotilla rollout abort REV --reason R     halt REV for good: no further host takes it
  flotilla rollout approve REV WAVE --reason R   open a wave declared approval: manual
${COMMON_OPTIONS}`;

const simple = (kind: "pause" | "resume" | "abort", text: string): ActionCommand => ({
  name: `rollout ${kind}`,
  help: `usage: flotilla rollout ${kind} REV --reason R [--controller URL] [--token T] [--json]\n\n${text}\n\n${COMMON_OPTIONS}`,
  args: ["REV"],
  request: ([rev], reason) => ({ path: `/api/v1/rollouts/${enc(rev!)}/${kind}`, body: { reason } }),
});

export const SUBCOMMANDS: Record<string, ActionCommand> = {
  pause: simple("pause", "Pause the rollout of REV: no wave opens and no host starts REV while paused;\nhosts already deploying it finish. `flotilla rollout resume` undoes it."),
  resume: simple("resume", "Resume a paused rollout: what would have opened during the pause opens now."),
  abort: simple("abort", "Abort the rollout of REV: it is halted (\"halted by operator <you>: <reason>\")\nand no further host takes it. Final; a new commit starts a new rollout."),
  approve: {
    name: "rollout approve",
    help: `usage: flotilla rollout approve REV WAVE --reason R [--controller URL] [--token T] [--json]\n\nApprove WAVE (declared \`approval: manual\` in fleet.yaml) for REV: it opens once\nthe previous wave is promoted.\n\n${COMMON_OPTIONS}`,
    args: ["REV", "WAVE"],
    request: ([rev, wave], reason) => ({ path: `/api/v1/rollouts/${enc(rev!)}/approve`, body: { wave: wave!, reason } }),
  },
};

export function run(argv: string[], io: CommandIO): Promise<number> {
  return runGroup("rollout", USAGE, SUBCOMMANDS, argv, io);
}
