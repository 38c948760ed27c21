/**
 * fetched → built: build the target before touching anything. NixOS builds
 * the toplevel; legacy evaluates the app. With fleet.yaml `delivery` set to
 * substitute for this host, the signed release's out path is fetched from
 * the caches instead (../substitute.ts). A failure changes nothing on the
 * host, is reported, and the revision is remembered as failed.
 */
import { REASONS } from "../../../../schemas/src/conditions.js";
import { AgentError, BuildError, errorInfo, HostNotInFleetError, InvalidFleetFileError } from "../../errors.js";
import { addFailed, elapsed, hostAt, nowIso, step, type LoopContext, type Step } from "../context.js";
import type { AgentState, CycleIn } from "../phases.js";
import { substitute } from "../substitute.js";

export async function build(ctx: LoopContext, state: AgentState, cycle: CycleIn<"fetched">): Promise<Step> {
  const { deps } = ctx;
  const t0 = deps.clock.now().getTime();
  const { rev } = cycle.target;
  try {
    const { fleet, host } = await hostAt(ctx, cycle.target.head);
    const flakeRef = await deps.source.flakeRef(rev);
    const sub = await substitute(ctx, { fleet, host, target: cycle.target });
    const generation = sub.kind === "substituted" ? sub.generation : await deps.systems[host.kind].build({ host, rev, flakeRef });
    const durations = { ...cycle.durations, build: elapsed(ctx, t0) };
    const message = sub.kind === "substituted" ? sub.message : sub.reason ? `built here: ${sub.reason}` : undefined;
    deps.log.info(sub.kind === "substituted" ? "substituted" : "built", { rev, generation, ms: durations.build });
    return step(ctx, state, { ...cycle, phase: "built", generation, durations }, [
      {
        phase: "built",
        outcome: "succeeded",
        reason: sub.kind === "substituted" ? REASONS.Substituted : REASONS.Progressing,
        rev,
        generation,
        durations,
        ...(message ? { message } : {}),
      },
    ]);
  } catch (e) {
    const own = e instanceof AgentError && !(e instanceof InvalidFleetFileError || e instanceof HostNotInFleetError);
    const err = own ? errorInfo(e) : errorInfo(new BuildError(`build of ${rev.slice(0, 12)} failed: ${(e as Error).message}`, { cause: e }));
    const durations = { ...cycle.durations, build: elapsed(ctx, t0) };
    deps.log.error(e instanceof BuildError || !own ? "build failed; nothing changed" : "no system to activate; nothing changed", { rev, reason: err.reason, error: err.message });
    return step(
      ctx,
      state,
      { phase: "failed", target: cycle.target, head: cycle.target.head, error: err, startedAt: cycle.startedAt, durations },
      [{ phase: "failed", outcome: "failed", reason: err.reason, rev, generation: null, error: err, durations, blamed: true }],
      { failedRevs: addFailed(state, rev, err.reason, nowIso(ctx)) },
    );
  }
}
