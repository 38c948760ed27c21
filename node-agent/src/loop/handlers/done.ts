/**
 * done (post-deploy pending) → done: the post-deploy hook runs only after a
 * healthy verification (a failure is reported, never rolled back), then old
 * generations beyond the fleet's keepGenerations are pruned.
 */
import { REASONS } from "../../../../schemas/src/conditions.js";
import { errorInfo, PostDeployHookError } from "../../errors.js";
import { elapsed, hostAt, step, type LoopContext, type Step } from "../context.js";
import type { EventDraft } from "../events.js";
import type { AgentState, CycleIn } from "../phases.js";

export async function finish(ctx: LoopContext, state: AgentState, cycle: CycleIn<"done">): Promise<Step> {
  const { deps } = ctx;
  const { rev } = cycle.target;
  const { fleet, host } = await hostAt(ctx, cycle.target.head);
  const events: EventDraft[] = [];
  let durations = { ...cycle.durations };
  let postDeploy: "ok" | "failed" | "none" = "none";
  if (host.hooks.postDeploy) {
    const t0 = deps.clock.now().getTime();
    try {
      const dir = await deps.source.checkout(rev);
      await deps.hooks.run(host.hooks.postDeploy, { host, rev, generation: cycle.generation, dir, stage: "postDeploy" });
      postDeploy = "ok";
    } catch (e) {
      postDeploy = "failed";
      const err = errorInfo(e instanceof PostDeployHookError ? e : new PostDeployHookError(`post-deploy hook failed: ${(e as Error).message}`, { cause: e }));
      deps.log.error("post-deploy hook failed (the deploy stays; not rolled back)", { rev, error: err.message });
      events.push({ phase: "done", outcome: "failed", reason: err.reason, rev, generation: cycle.generation, error: err });
    }
    durations = { ...durations, postDeploy: elapsed(ctx, t0) };
  }
  const keep = fleet.agent.keepGenerations;
  const protect = [cycle.generation, ...(state.current ? [state.current.generation] : []), ...(cycle.previous ? [cycle.previous.generation] : [])];
  try {
    await deps.systems[host.kind].prune(host, keep, protect);
    await deps.secrets.prune(keep);
    await deps.source.forget([rev, ...(state.current ? [state.current.rev] : []), ...(cycle.previous?.rev ? [cycle.previous.rev] : [])]);
  } catch (e) {
    deps.log.warn("pruning old generations failed", { error: (e as Error).message });
  }
  const total = Object.values(durations).reduce((a, b) => a + b, 0);
  const reboot = cycle.needsReboot !== undefined ? { needsReboot: cycle.needsReboot } : {};
  events.push({ phase: "done", outcome: "succeeded", reason: REASONS.Succeeded, rev, generation: cycle.generation, health: cycle.health, durations: { ...durations, total }, ...reboot });
  return step(ctx, state, { ...cycle, postDeploy, durations }, events);
}
