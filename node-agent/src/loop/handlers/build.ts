/**
 * fetched → built: build the target before touching anything. NixOS builds
 * the toplevel; legacy evaluates the app. A failure changes nothing on the
 * host, is reported, and the revision is remembered as failed.
 */
import { REASONS } from "../../../../schemas/src/conditions.js";
import { BuildError, errorInfo } from "../../errors.js";
import { addFailed, elapsed, hostAt, nowIso, step, type LoopContext, type Step } from "../context.js";
import type { AgentState, CycleIn } from "../phases.js";

export async function build(ctx: LoopContext, state: AgentState, cycle: CycleIn<"fetched">): Promise<Step> {
  const { deps } = ctx;
  const t0 = deps.clock.now().getTime();
  const { rev } = cycle.target;
  try {
    const { host } = await hostAt(ctx, cycle.target.head);
    const flakeRef = await deps.source.flakeRef(rev);
    const generation = await deps.systems[host.kind].build({ host, rev, flakeRef });
    const durations = { ...cycle.durations, build: elapsed(ctx, t0) };
    deps.log.info("built", { rev, generation, ms: durations.build });
    return step(ctx, state, { ...cycle, phase: "built", generation, durations }, [
      { phase: "built", outcome: "succeeded", reason: REASONS.Progressing, rev, generation, durations },
    ]);
  } catch (e) {
    const err = e instanceof BuildError ? errorInfo(e) : errorInfo(new BuildError(`build of ${rev.slice(0, 12)} failed: ${(e as Error).message}`, { cause: e }));
    const durations = { ...cycle.durations, build: elapsed(ctx, t0) };
    deps.log.error("build failed; nothing changed", { rev, error: err.message });
    return step(
      ctx,
      state,
      { phase: "failed", target: cycle.target, head: cycle.target.head, error: err, startedAt: cycle.startedAt, durations },
      [{ phase: "failed", outcome: "failed", reason: err.reason, rev, generation: null, error: err, durations, blamed: true }],
      { failedRevs: addFailed(state, rev, err.reason, nowIso(ctx)) },
    );
  }
}
