/**
 * rollingBack → rolledBack | rollbackFailed: set the system back to the
 * *recorded* previous generation (NixOS: its path and its own
 * switch-to-configuration; legacy: the previous revision's app), switch the
 * secrets back, then verify the previous generation. Idempotent, so a crash
 * in here simply runs it again. A failed rollback is its own loud state.
 */
import { REASONS } from "../../../../schemas/src/conditions.js";
import { errorInfo, NoPreviousGenerationError, RollbackVerifyError } from "../../errors.js";
import type { EventDraft } from "../events.js";
import { checkConnectivity } from "../connectivity.js";
import { addFailed, elapsed, hostAt, nowIso, step, type LoopContext, type Step } from "../context.js";
import type { AgentState, CycleIn } from "../phases.js";

export async function rollBack(ctx: LoopContext, state: AgentState, cycle: CycleIn<"rollingBack">): Promise<Step> {
  const { deps } = ctx;
  const { rev } = cycle.target;
  const t0 = deps.clock.now().getTime();
  const previous = cycle.previous;
  const fail = (e: unknown): Step => {
    const rollbackError = errorInfo(e);
    const durations = { ...cycle.durations, rollback: elapsed(ctx, t0) };
    deps.log.error("ROLLBACK FAILED: the host may be on an unverified generation; a human is needed (then `flotilla-agent retry`)", {
      rev,
      generation: cycle.generation,
      previous: previous?.generation ?? "none",
      error: rollbackError.message,
    });
    return step(
      ctx,
      state,
      { phase: "rollbackFailed", target: cycle.target, startedAt: cycle.startedAt, durations, generation: cycle.generation, previous, error: cycle.error, rollbackError },
      [{ phase: "rollbackFailed", outcome: "failed", reason: REASONS.RollbackFailed, rev, generation: cycle.generation, previous: previous ?? undefined, error: rollbackError, durations, blamed: cycle.blameTarget }],
      cycle.blameTarget ? { failedRevs: addFailed(state, rev, cycle.error.reason, nowIso(ctx)) } : {},
    );
  };
  if (!previous) return stranded(ctx, state, cycle);

  try {
    const { fleet, host } = await hostAt(ctx, cycle.target.head);
    // Check the previous generation against the checks of its own revision when we can read them.
    const prevFleet = previous.rev ? await hostAt(ctx, previous.rev).catch(() => null) : null;
    if (previous.rev) await deps.secrets.rollback({ fleet: prevFleet?.fleet ?? fleet, host: prevFleet?.host ?? host, rev: previous.rev });
    await deps.systems[host.kind].rollback(host, previous, previous.rev ? await deps.source.flakeRef(previous.rev) : null);
    const checks = (prevFleet?.host ?? host).checks;
    const on = { rev: previous.rev ?? rev, generation: previous.generation };
    // operation boot: the previous generation is staged for the next boot, not running; its checks
    // would measure the system running now, so it is not verified here (it was verified before).
    const staged = host.kind === "nixos" && host.operation === "boot" && (await deps.systems.nixos.booted?.()) !== previous.generation;
    const [health, connectivity] = staged ? [[], []] : await Promise.all([deps.health.verify(checks, { host, ...on }), checkConnectivity(ctx, state, cycle.reach, on)]);
    const results = [...health, ...connectivity];
    const bad = results.filter((r) => !r.ok);
    if (bad.length) throw new RollbackVerifyError(`the previous generation ${previous.generation} is not healthy either: ${bad.map((r) => `${r.check}: ${r.detail ?? "failed"}`).join("; ")}`);

    const durations = { ...cycle.durations, rollback: elapsed(ctx, t0) };
    // Blame was decided when the failure was found (an interruption only counts
    // against the revision once it keeps happening; see interruptionBlamed).
    const blame = cycle.blameTarget;
    const interruptions = blame ? null : { rev, count: (state.interruptions?.rev === rev ? state.interruptions.count : 0) + 1 };
    deps.log.warn("rolled back", { rev, to: previous.generation, reason: cycle.error.reason, remembered: blame });
    return step(
      ctx,
      state,
      { phase: "rolledBack", target: cycle.target, startedAt: cycle.startedAt, durations, generation: cycle.generation, previous, error: cycle.error, health: results },
      [
        {
          phase: "rolledBack",
          outcome: "succeeded",
          reason: REASONS.RolledBack,
          rev,
          generation: cycle.generation,
          previous,
          health: results,
          error: cycle.error,
          durations,
          blamed: blame,
          message: staged ? `rolled back: ${previous.generation} is staged for the next boot after ${cycle.error.reason}` : `rolled back to ${previous.generation} after ${cycle.error.reason}`,
          ...(staged ? { pendingReboot: true } : {}),
        },
      ],
      {
        current: previous.rev ? { rev: previous.rev, generation: previous.generation } : state.current,
        failedRevs: blame ? addFailed(state, rev, cycle.error.reason, nowIso(ctx)) : state.failedRevs,
        interruptions,
        // An interruption is not the revision's fault: evaluate the head again at the next poll.
        ...(blame ? {} : { lastHead: null, noticedHead: null }),
      },
    );
  } catch (e) {
    return fail(e instanceof NoPreviousGenerationError || (e as { reason?: string }).reason === REASONS.RollbackFailed ? e : new RollbackVerifyError(`rollback failed: ${(e as Error).message}`, { cause: e }));
  }
}

/**
 * rollingBack → firstDeployFailed: a host's first deploy failed after it
 * switched, and nothing ran before it, so there is nothing to roll back to.
 * No rollback is attempted (and none failed): the host runs the failed
 * generation, and the state says so plainly. Stalled, but the agent keeps
 * polling: a newer commit that has not failed deploys, and `flotilla-agent
 * retry` forgets the failure so the same revision is deployed again. The
 * generation is remembered with the failure, so the next deploy does not take
 * it for a previous generation to return to.
 */
function stranded(ctx: LoopContext, state: AgentState, cycle: CycleIn<"rollingBack">): Step {
  const { deps } = ctx;
  const { rev } = cycle.target;
  const blame = cycle.blameTarget;
  const message = `the first deploy of ${rev.slice(0, 12)} failed after switching (${cycle.error.reason}: ${cycle.error.message}); there is no previous generation to return to, so ${cycle.generation} stays active, unverified. A newer commit, or \`flotilla-agent retry\` after a fix, deploys again`;
  deps.log.error("first deploy failed and nothing ran before it: no rollback possible; the host runs the failed generation until a newer commit or `flotilla-agent retry`", {
    rev,
    generation: cycle.generation,
    reason: cycle.error.reason,
  });
  const time = nowIso(ctx);
  const ev: EventDraft = {
    phase: "firstDeployFailed",
    outcome: "failed",
    reason: REASONS.NoPreviousGeneration,
    rev,
    generation: cycle.generation,
    health: cycle.health,
    error: cycle.error,
    durations: cycle.durations,
    blamed: blame,
    message,
  };
  const failedRevs = blame ? [...addFailed(state, rev, cycle.error.reason, time).slice(0, -1), { rev, reason: cycle.error.reason, time, generation: cycle.generation }] : state.failedRevs;
  return step(
    ctx,
    state,
    { phase: "firstDeployFailed", target: cycle.target, startedAt: cycle.startedAt, durations: cycle.durations, generation: cycle.generation, error: cycle.error, health: cycle.health },
    [ev],
    {
      failedRevs,
      interruptions: blame ? null : { rev, count: (state.interruptions?.rev === rev ? state.interruptions.count : 0) + 1 },
      // Not blamed (an interruption): evaluate the head again at the next poll.
      ...(blame ? {} : { lastHead: null, noticedHead: null }),
    },
  );
}
