/**
 * verifying → done | rollingBack: the host's checks from the fleet file plus
 * the connectivity canary, all measured on the new generation. Also the
 * resume point after a crash in `verifying`: it re-verifies from scratch.
 */
import { REASONS } from "../../../../schemas/src/conditions.js";
import { ConnectivityLostError, errorInfo, GenerationMismatchError, HealthCheckError } from "../../errors.js";
import { checkConnectivity } from "../connectivity.js";
import { elapsed, hostAt, interruptionBlamed, step, type LoopContext, type Step } from "../context.js";
import type { AgentState, CycleIn } from "../phases.js";

export async function verify(ctx: LoopContext, state: AgentState, cycle: CycleIn<"verifying">): Promise<Step> {
  const { deps } = ctx;
  const { rev } = cycle.target;
  const generation = cycle.generation;
  const t0 = deps.clock.now().getTime();
  const { host } = await hostAt(ctx, cycle.target.head);

  if (host.kind === "nixos" && host.operation !== "test") {
    const active = await deps.systems.nixos.current(host);
    if (active !== generation) {
      // Like an interrupted switch: forgiven unless it keeps happening to this revision.
      const blamed = interruptionBlamed(ctx, state, rev);
      const err = errorInfo(new GenerationMismatchError(`the profile points at ${active ?? "nothing"}, not ${generation}; the activation did not complete`));
      return step(ctx, state, { ...cycle, phase: "rollingBack", error: err, blameTarget: blamed, health: [] }, [
        { phase: "verifying", outcome: "failed", reason: err.reason, rev, generation, error: err, blamed },
        { phase: "rollingBack", outcome: "started", reason: err.reason, rev, generation, previous: cycle.previous ?? undefined, blamed },
      ]);
    }
  }

  // operation boot: the generation runs only after a reboot. Checks now would
  // measure the old running system, so it is `done` but unverified
  // (pendingReboot) until the host has booted it (loop/reboot.ts).
  const needsReboot = host.kind === "nixos" ? ((await deps.systems.nixos.needsReboot?.(generation)) ?? undefined) : undefined;
  if (host.kind === "nixos" && host.operation === "boot" && (await deps.systems.nixos.booted?.()) !== generation) {
    const durations = { ...cycle.durations, verify: elapsed(ctx, t0) };
    const message = `${generation} is staged for the next boot; its health is verified after the host has booted it`;
    deps.log.info("staged for the next boot; health unverified until the host has booted it", { rev, generation });
    return step(
      ctx,
      state,
      { ...cycle, phase: "done", postDeploy: "none", health: [], durations, pendingReboot: true, ...(needsReboot !== undefined ? { needsReboot } : {}) },
      [{ phase: "done", outcome: "succeeded", reason: REASONS.PendingReboot, rev, generation, durations, pendingReboot: true, message, ...(needsReboot !== undefined ? { needsReboot } : {}) }],
      { interruptions: null },
    );
  }

  const [health, connectivity] = await Promise.all([
    deps.health.verify(host.checks, { host, rev, generation }),
    checkConnectivity(ctx, state, cycle.reach, { rev, generation }),
  ]);
  const results = [...health, ...connectivity];
  const durations = { ...cycle.durations, verify: elapsed(ctx, t0) };
  const badHealth = health.filter((r) => !r.ok);
  const badConn = connectivity.filter((r) => !r.ok);

  if (badHealth.length === 0 && badConn.length === 0) {
    deps.log.info("verified healthy", { rev, generation, checks: results.length, ms: durations.verify });
    return step(
      ctx,
      state,
      { ...cycle, phase: "done", postDeploy: "pending", health: results, durations, pendingReboot: false, ...(needsReboot !== undefined ? { needsReboot } : {}) },
      [{ phase: "verifying", outcome: "succeeded", reason: REASONS.Succeeded, rev, generation, health: results, durations, ...(needsReboot !== undefined ? { needsReboot } : {}) }],
      { current: { rev, generation }, failedRevs: state.failedRevs.filter((f) => f.rev !== rev), interruptions: null },
    );
  }
  const describe = (rs: typeof results) => rs.map((r) => `${r.check}: ${r.detail ?? "failed"}`).join("; ");
  const error = badHealth.length
    ? new HealthCheckError(`health checks failed on ${generation}: ${describe(badHealth)}`)
    : new ConnectivityLostError(`lost connectivity after activating ${generation}: ${describe(badConn)}`);
  const err = errorInfo(error);
  deps.log.error("verification failed; rolling back", { rev, generation, error: err.message });
  return step(ctx, state, { ...cycle, phase: "rollingBack", error: err, blameTarget: true, health: results, durations }, [
    { phase: "verifying", outcome: "failed", reason: err.reason, rev, generation, health: results, error: err, durations, blamed: true },
    { phase: "rollingBack", outcome: "started", reason: err.reason, rev, generation, previous: cycle.previous ?? undefined, blamed: true },
  ]);
}
