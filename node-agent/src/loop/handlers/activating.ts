/**
 * activating → verifying | rollingBack | failed: install secrets, then switch.
 * The state already on disk says `activating {target, previous}`, so a crash
 * anywhere in here is recovered by rolling back to `previous`. A failure
 * before anything on the host changed (the fleet file, the flake reference,
 * secrets refused before their generation was switched, a profile that could
 * not be set) ends in `failed` like a failed build: the running system is
 * untouched, so there is nothing to roll back.
 */
import { REASONS } from "../../../../schemas/src/conditions.js";
import { changedNothing, errorInfo, GenerationMismatchError, SecretsError } from "../../errors.js";
import { addFailed, elapsed, hostAt, nowIso, step, type LoopContext, type Step } from "../context.js";
import type { AgentState, CycleIn } from "../phases.js";

export async function activate(ctx: LoopContext, state: AgentState, cycle: CycleIn<"activating">): Promise<Step> {
  const { deps } = ctx;
  const { rev } = cycle.target;
  const t0 = deps.clock.now().getTime();
  // Whether a step that may have changed the host has run (or failed without saying it changed nothing).
  let touched = false;
  try {
    const { host } = await hostAt(ctx, cycle.target.head);
    // The secrets the target revision itself declares, read against that revision's files:
    // a pinned host runs an older revision than the head that chose it.
    const declared = await hostAt(ctx, rev).catch((e: unknown) => {
      throw new SecretsError(`reading the secrets declared at ${rev.slice(0, 12)} failed: ${(e as Error).message}`, { cause: e });
    });
    const flakeRef = await deps.source.flakeRef(rev);
    try {
      touched = (await deps.secrets.install({ fleet: declared.fleet, host: declared.host, rev })) !== null;
    } catch (e) {
      touched = !changedNothing(e);
      throw e;
    }
    try {
      await deps.systems[host.kind].activate({ host, rev, flakeRef, generation: cycle.generation });
    } catch (e) {
      touched ||= !changedNothing(e);
      throw e;
    }
    touched = true;
    if (host.kind === "nixos" && host.operation !== "test") {
      const active = await deps.systems.nixos.current(host);
      if (active !== cycle.generation) {
        throw new GenerationMismatchError(`after activation the profile points at ${active ?? "nothing"}, not the built generation ${cycle.generation}`);
      }
    }
  } catch (e) {
    const err = errorInfo(e);
    const durations = { ...cycle.durations, activate: elapsed(ctx, t0) };
    if (!touched) {
      deps.log.error("activation failed before anything was switched; nothing changed", { rev, error: err.message });
      return step(
        ctx,
        state,
        { phase: "failed", target: cycle.target, head: cycle.target.head, error: err, startedAt: cycle.startedAt, durations },
        [{ phase: "failed", outcome: "failed", reason: err.reason, rev, generation: cycle.generation, error: err, durations, blamed: true, message: "nothing was switched; the running system is unchanged" }],
        { failedRevs: addFailed(state, rev, err.reason, nowIso(ctx)) },
      );
    }
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
