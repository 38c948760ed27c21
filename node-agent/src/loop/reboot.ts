/**
 * What a reboot changes for a resting `done` state (NixOS):
 *  - `pendingReboot` (operation boot): once the host has booted the staged
 *    generation (/run/booted-system is it), verify it now → `verifying`, then
 *    done (healthy) or rollingBack like any deploy. Until then it stays
 *    unverified; the controller does not count it as healthy unless the
 *    wave says so (`acceptPendingReboot`).
 *  - `needsReboot`: once the booted system has the generation's kernel,
 *    initrd and modules, the flag is cleared and reported.
 * Called by the driver before each poll; cheap (two or three realpaths).
 */
import { REASONS } from "../../../schemas/src/conditions.js";
import { step, type LoopContext, type Step } from "./context.js";
import type { AgentState } from "./phases.js";
import { coordinateReboot } from "./reboot-coordination.js";

export async function afterReboot(ctx: LoopContext, state: AgentState): Promise<Step | null> {
  const c = state.cycle;
  if (c.phase !== "done" || c.target.kind !== "nixos" || (!c.pendingReboot && !c.needsReboot && !c.reboot)) return null;
  const { deps } = ctx;
  const nixos = deps.systems.nixos;
  const rev = c.target.rev;
  if (c.pendingReboot) {
    if (!nixos.booted || (await nixos.booted()) !== c.generation) return null;
    deps.log.info("the host booted the staged generation; verifying it", { rev, generation: c.generation });
    const controller = deps.reporter.controller() ? await deps.reporter.probe(state) : false;
    return step(
      ctx,
      state,
      { phase: "verifying", target: c.target, startedAt: c.startedAt, durations: c.durations, generation: c.generation, previous: c.previous, reach: { remote: c.target.remote, controller }, attempt: 1 },
      [{ phase: "verifying", outcome: "started", reason: REASONS.Progressing, rev, generation: c.generation, message: `the host booted ${c.generation}; verifying it` }],
    );
  }
  const coordinated = await coordinateReboot(ctx, state, c);
  if (coordinated !== undefined) return coordinated;
  if (!c.needsReboot || (await nixos.needsReboot?.(c.generation)) !== false) return null;
  deps.log.info("the booted system has this generation's kernel now; no reboot needed", { rev, generation: c.generation });
  return step(ctx, state, { ...c, needsReboot: false }, [
    { phase: "done", outcome: "succeeded", reason: REASONS.Succeeded, rev, generation: c.generation, health: c.health, needsReboot: false, message: "rebooted: the booted system has this generation's kernel, initrd and modules" },
  ]);
}
