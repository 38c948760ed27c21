/**
 * built → activating: run the pre-deploy hook (a failure aborts; nothing
 * changed), record the exact previous generation and what the agent can
 * reach now. The driver saves `activating` before the switch happens.
 */
import { REASONS } from "../../../../schemas/src/conditions.js";
import { errorInfo, PreDeployHookError } from "../../errors.js";
import { addFailed, elapsed, hostAt, nowIso, step, type LoopContext, type Step } from "../context.js";
import type { AgentState, CycleIn, Previous } from "../phases.js";

export async function prepareActivation(ctx: LoopContext, state: AgentState, cycle: CycleIn<"built">): Promise<Step> {
  const { deps } = ctx;
  const { rev } = cycle.target;
  const { host } = await hostAt(ctx, cycle.target.head);
  let durations = { ...cycle.durations };

  if (host.hooks.preDeploy) {
    const t0 = deps.clock.now().getTime();
    try {
      const dir = await deps.source.checkout(rev);
      await deps.hooks.run(host.hooks.preDeploy, { host, rev, generation: cycle.generation, dir, stage: "preDeploy" });
      durations = { ...durations, preDeploy: elapsed(ctx, t0) };
    } catch (e) {
      const err = errorInfo(e instanceof PreDeployHookError ? e : new PreDeployHookError(`pre-deploy hook failed: ${(e as Error).message}`, { cause: e }));
      durations = { ...durations, preDeploy: elapsed(ctx, t0) };
      deps.log.error("pre-deploy hook failed; deploy aborted, nothing changed", { rev, error: err.message });
      return step(
        ctx,
        state,
        { phase: "failed", target: cycle.target, head: cycle.target.head, error: err, startedAt: cycle.startedAt, durations },
        [{ phase: "failed", outcome: "failed", reason: err.reason, rev, generation: cycle.generation, error: err, durations, blamed: true }],
        { failedRevs: addFailed(state, rev, err.reason, nowIso(ctx)) },
      );
    }
  }

  // The exact path to return to. NixOS: what the profile points at now; legacy: the last verified deploy.
  let previous: Previous | null;
  if (host.kind === "nixos") {
    const active = await deps.systems.nixos.current(host);
    // A generation left by a failed first deploy is no generation to return to.
    // Nor is the target's own generation, active after a retry of that failed first deploy.
    const failedFirst = !state.current && (active === cycle.generation || state.failedRevs.some((f) => f.generation === active));
    previous = active && !failedFirst ? { rev: state.current?.generation === active ? state.current.rev : null, generation: active } : null;
  } else {
    previous = state.current ? { ...state.current } : null;
  }
  const controller = deps.reporter.controller() ? await deps.reporter.probe(state) : false;
  const reach = { remote: cycle.target.remote, controller };
  const attempt = state.interruptions?.rev === rev ? state.interruptions.count + 1 : 1;
  deps.log.info("activating", { rev, generation: cycle.generation, previous: previous?.generation ?? "none", controllerReachable: controller });
  return step(ctx, state, { ...cycle, phase: "activating", previous, reach, attempt, durations }, [
    { phase: "activating", outcome: "started", reason: REASONS.Progressing, rev, generation: cycle.generation, previous: previous ?? { rev: null, generation: null }, durations },
  ]);
}
