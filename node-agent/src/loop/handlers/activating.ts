/**
 * activating → verifying | rollingBack: install secrets, then switch. The
 * state already on disk says `activating {target, previous}`, so a crash
 * anywhere in here is recovered by rolling back to `previous`.
 */
import { REASONS } from "../../../../schemas/src/conditions.js";
import { errorInfo, GenerationMismatchError, SecretsError } from "../../errors.js";
import { elapsed, hostAt, step, type LoopContext, type Step } from "../context.js";
import type { AgentState, CycleIn } from "../phases.js";

export async function activate(ctx: LoopContext, state: AgentState, cycle: CycleIn<"activating">): Promise<Step> {
  const { deps } = ctx;
  const { rev } = cycle.target;
  const t0 = deps.clock.now().getTime();
  try {
    const { host } = await hostAt(ctx, cycle.target.head);
    // The secrets the target revision itself declares, read against that revision's files:
    // a pinned host runs an older revision than the head that chose it.
    const declared = await hostAt(ctx, rev).catch((e: unknown) => {
      throw new SecretsError(`reading the secrets declared at ${rev.slice(0, 12)} failed: ${(e as Error).message}`, { cause: e });
    });
    await deps.secrets.install({ fleet: declared.fleet, host: declared.host, rev });
    const flakeRef = await deps.source.flakeRef(rev);
    await deps.systems[host.kind].activate({ host, rev, flakeRef, generation: cycle.generation });
    if (host.kind === "nixos" && host.operation !== "test") {
      const active = await deps.systems.nixos.current(host);
      if (active !== cycle.generation) {
        throw new GenerationMismatchError(`after activation the profile points at ${active ?? "nothing"}, not the built generation ${cycle.generation}`);
      }
    }
  } catch (e) {
    const err = errorInfo(e);
    const durations = { ...cycle.durations, activate: elapsed(ctx, t0) };
    deps.log.error("activation failed; rolling back", { rev, error: err.message });
    return step(ctx, state, { ...cycle, phase: "rollingBack", error: err, blameTarget: true, health: [], durations }, [
      { phase: "activating", outcome: "failed", reason: err.reason, rev, generation: cycle.generation, error: err, durations, blamed: true },
      { phase: "rollingBack", outcome: "started", reason: err.reason, rev, generation: cycle.generation, previous: cycle.previous ?? undefined, blamed: true },
    ]);
  }
  const durations = { ...cycle.durations, activate: elapsed(ctx, t0) };
  deps.log.info("activated", { rev, generation: cycle.generation, ms: durations.activate });
  return step(ctx, state, { ...cycle, phase: "verifying", durations }, [
    { phase: "activating", outcome: "succeeded", reason: REASONS.Progressing, rev, generation: cycle.generation, durations },
  ]);
}
